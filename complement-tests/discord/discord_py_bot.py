#!/usr/bin/env python3
"""A discord.py bot, unchanged but for its two URLs, as the judge of the
Nexus bot API. It reports what it sees as JSON lines on stdout:

    discord_py_bot.py BASE_URL TOKEN

`{"event": "ready", ...}` on on_ready (its guilds and their text channels),
`{"event": "message", ...}` for every on_message; it answers `!ping` with a
reply "pong" and `!typing` by typing then saying "typed". With a bad token it
reports `{"event": "login_failure"}` and exits.
"""

import asyncio
import io
import json
import logging
import sys

import discord
import yarl
from discord.gateway import DiscordWebSocket
from discord.http import Route

base, token = sys.argv[1].rstrip("/"), sys.argv[2]
Route.BASE = f"{base}/api/v10"
DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(base.replace("http", "ws", 1) + "/gateway")

intents = discord.Intents.default()
intents.message_content = True
client = discord.Client(intents=intents)
# Messages the bot reacted to, for "!unreact".
reacted = []


def report(**fields):
    print(json.dumps(fields), flush=True)


@client.event
async def on_ready():
    guilds = [
        {"id": str(g.id), "name": g.name, "channels": [c.name for c in g.text_channels], "roles": len(g.roles)}
        for g in client.guilds
    ]
    report(event="ready", user=client.user.name, user_id=str(client.user.id), guilds=guilds)


@client.event
async def on_message(message):
    report(
        event="message",
        id=str(message.id),
        content=message.content,
        author=message.author.name,
        own=message.author == client.user,
        channel=message.channel.name,
        guild=message.guild.name if message.guild else None,
        reference=str(message.reference.message_id) if message.reference else None,
        attachments=[
            {"filename": a.filename, "size": a.size, "content_type": a.content_type} for a in message.attachments
        ],
    )
    if message.attachments and message.author != client.user:
        # What a person attached, read back through its CDN-style URL.
        data = await message.attachments[0].read()
        report(event="attachment_read", filename=message.attachments[0].filename, data=data.decode())
    if message.content == "!ping":
        reply = await message.reply("pong")
        report(event="replied", id=str(reply.id), to=str(message.id))
    elif message.content == "!typing":
        async with message.channel.typing():
            await asyncio.sleep(0.1)
        await message.channel.send("typed")
    elif message.content == "!edit":
        draft = await message.channel.send("draft")
        edited = await draft.edit(content="final")
        report(event="edited", id=str(draft.id), content=edited.content, at=str(edited.edited_at))
    elif message.content == "!react":
        await message.add_reaction("\N{THUMBS UP SIGN}")
        reacted.append(message)
        report(event="reacted", id=str(message.id))
    elif message.content == "!unreact":
        # Takes back the reaction it put on the last "!react".
        target = reacted.pop()
        await target.remove_reaction("\N{THUMBS UP SIGN}", client.user)
        report(event="unreacted", id=str(target.id))
    elif message.content == "!delete":
        doomed = await message.channel.send("doomed")
        await doomed.delete()
        report(event="deleted", id=str(doomed.id))
    elif message.content == "!history":
        # Newest first, paging with before= as discord.py does.
        seen = [m.content async for m in message.channel.history(limit=7)]
        older = [m.content async for m in message.channel.history(limit=3, before=message)]
        report(event="history", newest_first=seen, before_command=older)
    elif message.content == "!burst":
        # Sent one after another as fast as the rate limits allow.
        for n in range(20):
            await message.channel.send(f"burst {n}")
        report(event="burst_done")
    elif message.content == "!file":
        files = [
            discord.File(io.BytesIO(b"hello file"), filename="hello.txt"),
            discord.File(io.BytesIO(b"second file"), filename="second.txt", description="the other one"),
        ]
        sent = await message.channel.send("here you go", files=files)
        first = await sent.attachments[0].read()
        report(
            event="file_sent",
            id=str(sent.id),
            content=sent.content,
            attachments=[{"filename": a.filename, "size": a.size} for a in sent.attachments],
            first=first.decode(),
        )
    elif message.content == "!drop":
        report(event="dropping")
        # A close code discord.py treats as resumable.
        await client.ws.close(code=4000)


@client.event
async def on_resumed():
    report(event="resumed")


@client.event
async def on_raw_reaction_add(payload):
    report(event="reaction_add", emoji=str(payload.emoji), message=str(payload.message_id), user=str(payload.user_id))


@client.event
async def on_raw_reaction_remove(payload):
    report(event="reaction_remove", emoji=str(payload.emoji), message=str(payload.message_id))


@client.event
async def on_raw_message_edit(payload):
    report(event="message_edit", id=str(payload.message_id), content=payload.data.get("content"))


@client.event
async def on_raw_message_delete(payload):
    report(event="message_delete", id=str(payload.message_id))


@client.event
async def on_typing(channel, user, when):
    report(event="typing", channel=channel.name, user=user.name)


async def main():
    # discord.py's own log (its warnings and errors) on stderr.
    discord.utils.setup_logging(level=logging.WARNING)
    try:
        await client.start(token)
    except discord.LoginFailure:
        report(event="login_failure")


asyncio.run(main())
