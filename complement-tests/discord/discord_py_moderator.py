#!/usr/bin/env python3
"""A discord.py bot with the members intent, unchanged but for its two URLs,
judging the bot API's members, roles and bans. It reports JSON lines:

    discord_py_moderator.py BASE_URL TOKEN

On ready: its guild's members (chunked at startup, as discord.py does with
the members intent). Events: member joins, updates (roles, timeouts), bans
and unbans, role creation, channel updates. Commands from a message:
`!role NAME` creates a role and gives it to the author's target (the
newest other member), `!timeout`, `!untimeout`, `!ban`, `!unban`, `!fetch`,
`!thread` (a thread from the command, and a message in it), `!archive`,
`!hook` (a webhook made, executed under two names, listed, deleted),
`!status` (the bot's own presence), `!pin`, `!reactions`, `!purge`.
Presence updates are reported.
Messages in threads are reported as "thread_message".
"""

import asyncio
import datetime
import json
import logging
import sys

import discord
import yarl
from discord.gateway import DiscordWebSocket
from discord.http import Route

base, token = sys.argv[1].rstrip("/"), sys.argv[2]
Route.BASE = f"{base}/api/v10"
# Webhooks have a route class of their own, on the same base.
discord.webhook.async_.Route.BASE = f"{base}/api/v10"
DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(base.replace("http", "ws", 1) + "/gateway")

intents = discord.Intents.default()
intents.message_content = True
intents.members = True
intents.presences = True
client = discord.Client(intents=intents)
# Threads the bot started, for "!archive".
threads = []


def report(**fields):
    print(json.dumps(fields), flush=True)


def target(guild):
    """The member the commands act on: the newest who is neither the bot nor the owner."""
    others = [m for m in guild.members if m != guild.me and m.id != guild.owner_id]
    return max(others, key=lambda m: m.joined_at)


@client.event
async def on_ready():
    guild = client.guilds[0]
    report(event="ready", members=sorted(m.name for m in guild.members), me_roles=len(guild.me.roles))


@client.event
async def on_member_join(member):
    report(event="member_join", name=member.name)


@client.event
async def on_member_update(before, after):
    report(
        event="member_update",
        name=after.name,
        roles=sorted(r.name for r in after.roles),
        timed_out=after.is_timed_out(),
    )


@client.event
async def on_presence_update(before, after):
    report(event="presence", name=after.name, status=str(after.status), activity=after.activity.name if after.activity else None)


@client.event
async def on_member_ban(guild, user):
    report(event="member_ban", name=user.name)


@client.event
async def on_member_unban(guild, user):
    report(event="member_unban", name=user.name)


@client.event
async def on_member_remove(member):
    report(event="member_remove", name=member.name)


@client.event
async def on_guild_role_create(role):
    report(event="role_create", name=role.name, colour=role.colour.value)


@client.event
async def on_guild_channel_update(before, after):
    report(event="channel_update", name=after.name, topic=after.topic)


@client.event
async def on_thread_create(thread):
    report(event="thread_create", name=thread.name, parent=thread.parent.name if thread.parent else None)


@client.event
async def on_thread_update(before, after):
    report(event="thread_update", name=after.name, archived=after.archived, locked=after.locked)


@client.event
async def on_message(message):
    if message.webhook_id:
        report(event="webhook_message", author=message.author.name, content=message.content)
    if isinstance(message.channel, discord.Thread):
        report(event="thread_message", thread=message.channel.name, content=message.content, own=message.author == client.user)
    if message.author == client.user or not message.content.startswith("!"):
        return
    guild = message.guild
    try:
        if message.content.startswith("!role "):
            role = await guild.create_role(name=message.content[6:], colour=discord.Colour(0x3498DB))
            member = target(guild)
            await member.add_roles(role)
            report(event="role_given", role=role.name, to=member.name)
        elif message.content == "!timeout":
            member = target(guild)
            await member.timeout(datetime.timedelta(minutes=5))
            report(event="timed_out", name=member.name)
        elif message.content == "!untimeout":
            member = target(guild)
            await member.timeout(None)
            report(event="untimed_out", name=member.name)
        elif message.content == "!ban":
            member = target(guild)
            await guild.ban(member, reason="spamming")
            bans = [entry async for entry in guild.bans()]
            report(event="banned", name=member.name, bans=[(b.user.name, b.reason) for b in bans])
        elif message.content == "!unban":
            bans = [entry async for entry in guild.bans()]
            await guild.unban(bans[0].user)
            report(event="unbanned", name=bans[0].user.name)
        elif message.content == "!thread":
            thread = await message.create_thread(name="Discussion")
            threads.append(thread)
            sent = await thread.send("in the thread")
            report(event="thread_started", name=thread.name, parent=thread.parent.name, in_thread=sent.channel.id == thread.id)
        elif message.content == "!archive":
            thread = await threads[-1].edit(archived=True, locked=True)
            history = [m.content async for m in thread.history(limit=5)]
            active = await message.guild.active_threads()
            report(event="archived", archived=thread.archived, locked=thread.locked, history=history, active=len(active))
        elif message.content == "!hook":
            hook = await message.channel.create_webhook(name="Announcer")
            sent = await hook.send("from the hook", username="Herald", wait=True)
            plain = await hook.send("plain", wait=True)
            edited = await plain.edit(content="plain, edited")
            await edited.delete()
            listed = [h.name for h in await message.channel.webhooks()]
            report(
                event="hooked",
                named=sent.author.name,
                plain=plain.author.name,
                edited=edited.content,
                same_hook=sent.webhook_id == hook.id,
                listed=listed,
            )
            await hook.delete()
            report(event="unhooked", left=[h.name for h in await message.channel.webhooks()])
        elif message.content == "!status":
            await client.change_presence(status=discord.Status.idle, activity=discord.CustomActivity("Moderating"))
            report(event="status_set")
        elif message.content == "!pin":
            await message.pin()
            pinned = [m.content async for m in message.channel.pins()]
            await message.unpin()
            after = [m.content async for m in message.channel.pins()]
            report(event="pinned", pinned=pinned, after=after)
        elif message.content == "!reactions":
            await message.add_reaction("\N{THUMBS UP SIGN}")
            users = await client.http.get_reaction_users(message.channel.id, message.id, "\N{THUMBS UP SIGN}", 10)
            await message.clear_reactions()
            left = await client.http.get_reaction_users(message.channel.id, message.id, "\N{THUMBS UP SIGN}", 10)
            report(event="reactions", users=[u["username"] for u in users], left=len(left))
        elif message.content == "!purge":
            deleted = await message.channel.purge(limit=3)
            report(event="purged", contents=sorted(m.content for m in deleted))
        elif message.content == "!fetch":
            owner = await guild.fetch_member(guild.owner_id)
            roles = await guild.fetch_roles()
            listed = [m.name async for m in guild.fetch_members(limit=100)]
            report(event="fetched", owner=owner.name, roles=sorted(r.name for r in roles), members=sorted(listed))
    except discord.HTTPException as error:
        report(event="http_error", status=error.status, code=error.code, text=error.text)


async def main():
    discord.utils.setup_logging(level=logging.WARNING)
    await client.start(token)


asyncio.run(main())
