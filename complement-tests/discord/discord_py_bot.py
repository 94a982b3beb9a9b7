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
    )
    if message.content == "!ping":
        reply = await message.reply("pong")
        report(event="replied", id=str(reply.id), to=str(message.id))
    elif message.content == "!typing":
        async with message.channel.typing():
            await asyncio.sleep(0.1)
        await message.channel.send("typed")


async def main():
    # discord.py's own log (its warnings and errors) on stderr.
    discord.utils.setup_logging(level=logging.WARNING)
    try:
        await client.start(token)
    except discord.LoginFailure:
        report(event="login_failure")


asyncio.run(main())
