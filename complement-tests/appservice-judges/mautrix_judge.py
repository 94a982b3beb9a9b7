"""mautrix-python (PyPI `mautrix`) as a judge of Nexus's application service
API, unchanged: the library's own start-up handshake, a ghost that creates a
room and invites a real user, the user's reply arriving in a transaction,
typing and receipts as ephemeral events, a failed transaction retried with
the same id, MSC4190 device creation and device masquerading, and one
Megolm-encrypted message sent by the ghost's device (the Rust side decrypts
it with matrix-sdk).

Run by tests/appservice_judges.rs with the registration's values in the
environment; prints `ENCRYPTED <room_id> <event_id>` and exits 0 when every
check passed.
"""

import asyncio
import json
import logging
import os
import sys

import aiohttp
from aiohttp import web
from mautrix.appservice import AppService
from mautrix.client import Client
from mautrix.client.state_store import MemoryStateStore
from mautrix.crypto import OlmMachine
from mautrix.crypto.store import MemoryCryptoStore
from mautrix.errors import MForbidden
from mautrix.types import (
    EncryptionAlgorithm,
    EventType,
    Membership,
    MessageType,
    RoomEncryptionStateEventContent,
    SpecVersions,
    TextMessageEventContent,
    UserID,
)

HS = os.environ["JUDGE_HS_URL"]
DOMAIN = os.environ["JUDGE_DOMAIN"]
AS_TOKEN = os.environ["JUDGE_AS_TOKEN"]
HS_TOKEN = os.environ["JUDGE_HS_TOKEN"]
AS_ID = os.environ["JUDGE_AS_ID"]
BOT = os.environ["JUDGE_BOT_LOCALPART"]
PORT = int(os.environ["JUDGE_AS_PORT"])
ALICE = os.environ["JUDGE_ALICE_ID"]
ALICE_TOKEN = os.environ["JUDGE_ALICE_TOKEN"]
WAIT = 20

FAIL_MARKER = "please fail this transaction once"


class JudgeStateStore(MemoryStateStore):
    """The client state store plus what mautrix's crypto asks of a bridge's
    store (bridges use their database for this)."""

    async def find_shared_rooms(self, user_id):
        return [room_id for room_id, members in self.members.items() if user_id in members]


def check(condition, message):
    if not condition:
        print(f"FAILED: {message}", flush=True)
        sys.exit(1)


async def main():
    logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    logging.getLogger("mau.crypto").setLevel(logging.DEBUG)
    logging.getLogger("mau.client").setLevel(logging.DEBUG)
    az = AppService(
        server=HS,
        domain=DOMAIN,
        as_token=AS_TOKEN,
        hs_token=HS_TOKEN,
        bot_localpart=BOT,
        id=AS_ID,
        ephemeral_events=True,
    )
    received = []
    arrived = asyncio.Event()

    @az.matrix_event_handler
    async def on_event(event):
        received.append(event)
        arrived.set()

    # The transactions as they arrive, and one failure on purpose: the
    # homeserver must send the same transaction again, with the same id.
    seen_transactions = []

    @web.middleware
    async def fail_once(request, handler):
        if request.method == "PUT" and "/transactions/" in request.path:
            body = await request.read()
            txn_id = request.path.rsplit("/", 1)[-1]
            seen_transactions.append((txn_id, body))
            marked = FAIL_MARKER.encode() in body
            if marked and sum(1 for t, b in seen_transactions if FAIL_MARKER.encode() in b) == 1:
                return web.json_response({"errcode": "M_UNKNOWN", "error": "failing on purpose"}, status=500)
        return await handler(request)

    az.app.middlewares.append(fail_once)
    await az.start(host="127.0.0.1", port=PORT)

    async def wait_for(what, predicate):
        deadline = asyncio.get_event_loop().time() + WAIT
        while True:
            for event in list(received):
                if predicate(event):
                    return event
            remaining = deadline - asyncio.get_event_loop().time()
            check(remaining > 0, f"{what} did not arrive; got {[str(e.type) for e in received]}")
            arrived.clear()
            try:
                await asyncio.wait_for(arrived.wait(), remaining)
            except asyncio.TimeoutError:
                pass

    # mautrix.bridge.matrix.BaseMatrixHandler.wait_for_connection, step by step.
    versions = await az.intent.versions()
    check(versions.supports_at_least(SpecVersions.V17), "the server must advertise v1.7 for pings")
    try:
        await az.intent.whoami()
    except MForbidden:
        await az.intent.ensure_registered()
        await az.intent.whoami()
    txn_id = az.intent.api.get_txn_id()
    duration = await az.ping_self(txn_id)
    check(isinstance(duration, int), f"ping answered {duration!r}")

    ghost = az.intent.user(UserID(f"@{AS_ID}_ghost:{DOMAIN}"))
    try:
        await ghost.whoami()
        check(False, "whoami for an unregistered ghost must be refused")
    except MForbidden:
        pass
    await ghost.ensure_registered()
    whoami = await ghost.whoami()
    check(whoami.user_id == ghost.mxid, f"whoami says {whoami.user_id}")

    room_id = await ghost.create_room(invitees=[UserID(ALICE)])

    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {ALICE_TOKEN}"}) as alice:
        async def alice_call(method, path, body=None):
            async with alice.request(method, f"{HS}/_matrix/client/v3{path}", json=body) as resp:
                data = await resp.json()
                check(resp.status == 200, f"alice {method} {path}: {resp.status} {data}")
                return data

        from urllib.parse import quote

        await alice_call("POST", f"/join/{quote(room_id)}", {})
        reply = await alice_call(
            "PUT",
            f"/rooms/{quote(room_id)}/send/m.room.message/judge1",
            {"msgtype": "m.text", "body": "a reply from alice"},
        )
        got = await wait_for(
            "alice's reply", lambda e: getattr(e, "event_id", None) == reply["event_id"]
        )
        check(got.content.body == "a reply from alice", f"content {got.content}")

        ghost_message = await ghost.send_text(room_id, "from the bridged network")
        await alice_call("PUT", f"/rooms/{quote(room_id)}/typing/{quote(ALICE)}", {"typing": True, "timeout": 20000})
        await alice_call("POST", f"/rooms/{quote(room_id)}/receipt/m.read/{quote(ghost_message)}", {})
        await wait_for("alice typing", lambda e: e.type == EventType.TYPING and ALICE in e.content.user_ids)
        await wait_for("alice's receipt", lambda e: e.type == EventType.RECEIPT and ghost_message in e.content)

        failing = await alice_call(
            "PUT", f"/rooms/{quote(room_id)}/send/m.room.message/judge2", {"msgtype": "m.text", "body": FAIL_MARKER}
        )
        await wait_for("the message of the failed transaction", lambda e: getattr(e, "event_id", None) == failing["event_id"])
        marked = [(t, b) for t, b in seen_transactions if FAIL_MARKER.encode() in b]
        check(len(marked) == 2, f"expected a failure and a retry, got {len(marked)} attempts")
        check(marked[0] == marked[1], "the retry must carry the same id and body")

    # MSC4190: the ghost's device, created by the appservice, then used
    # through device masquerading for its keys and an encrypted message.
    state = JudgeStateStore()
    client = Client(mxid=ghost.mxid, base_url=HS, token=AS_TOKEN, state_store=state)
    await client.create_device_msc4190("MAUTRIXDEV", "mautrix judge")
    whoami = await client.whoami()
    check(whoami.device_id == "MAUTRIXDEV", f"masqueraded whoami says device {whoami.device_id}")
    crypto_store = MemoryCryptoStore(account_id=ghost.mxid, pickle_key="judge")
    await crypto_store.put_device_id("MAUTRIXDEV")
    machine = OlmMachine(client, crypto_store, state)
    client.crypto = machine
    await machine.load()
    await machine.share_keys()
    await state.set_encryption_info(room_id, RoomEncryptionStateEventContent(algorithm=EncryptionAlgorithm.MEGOLM_V1))
    await ghost.send_state_event(
        room_id, EventType.ROOM_ENCRYPTION, RoomEncryptionStateEventContent(algorithm=EncryptionAlgorithm.MEGOLM_V1)
    )
    await state.set_membership(room_id, ghost.mxid, Membership.JOIN)
    await state.set_membership(room_id, UserID(ALICE), Membership.JOIN)
    await machine.share_group_session(room_id, [ghost.mxid, UserID(ALICE)])
    # The client encrypts by itself in a room its state store knows to be
    # encrypted, with the group session shared above.
    event_id = await client.send_message_event(
        room_id, EventType.ROOM_MESSAGE, TextMessageEventContent(msgtype=MessageType.TEXT, body="a secret from a ghost")
    )
    print(f"ENCRYPTED {room_id} {event_id}", flush=True)
    await az.stop()


asyncio.run(main())
