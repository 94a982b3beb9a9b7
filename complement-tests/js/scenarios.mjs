// Black-box scenarios for Nexus driven by matrix-js-sdk, the engine inside
// Element Web, with its Rust crypto compiled to WASM. Written from
// js-sdk's public API only.
//
//   node scenarios.mjs <homeserver base URL> <scenario>
//
// Each scenario registers its own users (unique names per run), drives one
// or more MatrixClients against the server and throws on any deviation;
// the process exits 0 on success, 1 with the reason on failure.

import * as sdk from "matrix-js-sdk";
import { logger } from "matrix-js-sdk/lib/logger.js";

logger.setLevel("error");

const [baseUrl, scenarioName] = process.argv.slice(2);
const PASSWORD = "sUp3r-secret-js";
const WAIT_MS = 30_000;
const run = Math.random().toString(36).slice(2, 8);

function assert(condition, message) {
    if (!condition) throw new Error(`assertion failed: ${message}`);
}

/** Polls `check` until it returns a truthy value (which it returns). */
async function until(what, check, timeoutMs = WAIT_MS) {
    const deadline = Date.now() + timeoutMs;
    let last;
    while (Date.now() < deadline) {
        try {
            const value = await check();
            if (value) return value;
        } catch (e) {
            last = e;
        }
        await new Promise((resolve) => setTimeout(resolve, 100));
    }
    throw new Error(`timed out waiting for ${what}${last ? `: ${last}` : ""}`);
}

/** Registers a user through the spec's user-interactive auth (dummy stage). */
async function register(localpart) {
    const client = sdk.createClient({ baseUrl });
    const username = `${localpart}-${run}`;
    let session;
    try {
        await client.registerRequest({ username, password: PASSWORD });
    } catch (e) {
        assert(e.httpStatus === 401 && e.data?.session, `registration should start UIA: ${e}`);
        session = e.data.session;
    }
    const done = await client.registerRequest({
        username,
        password: PASSWORD,
        auth: { type: "m.login.dummy", session },
        initial_device_display_name: "js-sdk judge",
    });
    return done;
}

/** A logged-in, syncing client; with Rust crypto when `crypto` is set. */
async function start(credentials, { crypto = false, initialSyncLimit = 20 } = {}) {
    const client = sdk.createClient({
        baseUrl,
        accessToken: credentials.access_token,
        userId: credentials.user_id,
        deviceId: credentials.device_id,
    });
    if (crypto) await client.initRustCrypto({ useIndexedDB: false });
    const prepared = new Promise((resolve, reject) => {
        client.on(sdk.ClientEvent.Sync, (state, _prev, data) => {
            if (state === sdk.SyncState.Prepared || state === sdk.SyncState.Syncing) resolve();
            if (state === sdk.SyncState.Error) reject(new Error(`sync failed: ${data?.error}`));
        });
    });
    await client.startClient({ initialSyncLimit, lazyLoadMembers: true });
    await prepared;
    return client;
}

async function user(localpart, options) {
    const credentials = await register(localpart);
    return { credentials, client: await start(credentials, options) };
}

function timelineBodies(client, roomId) {
    const room = client.getRoom(roomId);
    if (!room) return [];
    return room
        .getLiveTimeline()
        .getEvents()
        .filter((e) => e.getType() === "m.room.message")
        .map((e) => e.getContent().body);
}

/** Alice creates a room and invites Bob, who joins once the invite arrives. */
async function sharedRoom(alice, bob, options = {}) {
    const { room_id: roomId } = await alice.createRoom({ preset: sdk.Preset.PrivateChat, ...options });
    await alice.invite(roomId, bob.getUserId());
    await until("Bob sees the invite", () => bob.getRoom(roomId)?.getMyMembership() === "invite");
    await bob.joinRoom(roomId);
    await until("Alice sees Bob join", () => alice.getRoom(roomId)?.getMember(bob.getUserId())?.membership === "join");
    return roomId;
}

const scenarios = {
    async login() {
        const { user_id: userId } = await register("login");
        const client = sdk.createClient({ baseUrl });
        const flows = await client.loginFlows();
        assert(flows.flows.some((f) => f.type === "m.login.password"), "password login is offered");
        const response = await client.loginRequest({
            type: "m.login.password",
            identifier: { type: "m.id.user", user: userId },
            password: PASSWORD,
        });
        assert(response.user_id === userId && response.access_token && response.device_id, "login answers a session");
        const logged = sdk.createClient({ baseUrl, accessToken: response.access_token, userId });
        const whoami = await logged.whoami();
        assert(whoami.user_id === userId && whoami.device_id === response.device_id, "whoami names the session");
        let refused;
        try {
            await client.loginRequest({
                type: "m.login.password",
                identifier: { type: "m.id.user", user: userId },
                password: "wrong",
            });
        } catch (e) {
            refused = e;
        }
        assert(refused?.errcode === "M_FORBIDDEN", `a wrong password is M_FORBIDDEN, got ${refused}`);
    },

    async invite_join_message() {
        const alice = (await user("alice")).client;
        const bob = (await user("bob")).client;
        const roomId = await sharedRoom(alice, bob, { name: "js-sdk room" });
        await alice.sendMessage(roomId, { msgtype: "m.text", body: "hello Bob" });
        await until("Bob receives the message", () => timelineBodies(bob, roomId).includes("hello Bob"));
        await bob.sendMessage(roomId, { msgtype: "m.text", body: "hello Alice" });
        await until("Alice receives the reply", () => timelineBodies(alice, roomId).includes("hello Alice"));
        assert(bob.getRoom(roomId).name === "js-sdk room", "the room name reaches the member");
    },

    async edits_and_reactions() {
        const alice = (await user("alice")).client;
        const bob = (await user("bob")).client;
        const roomId = await sharedRoom(alice, bob);
        const { event_id: original } = await alice.sendMessage(roomId, { msgtype: "m.text", body: "helo" });
        await alice.sendMessage(roomId, {
            msgtype: "m.text",
            body: "* hello",
            "m.new_content": { msgtype: "m.text", body: "hello" },
            "m.relates_to": { rel_type: sdk.RelationType.Replace, event_id: original },
        });
        await until("Bob sees the edit applied", () => {
            const event = bob.getRoom(roomId)?.findEventById(original);
            return event?.getContent().body === "hello";
        });
        const reaction = { "m.relates_to": { rel_type: sdk.RelationType.Annotation, event_id: original, key: "👍" } };
        await bob.sendEvent(roomId, sdk.EventType.Reaction, reaction);
        await until("Alice sees Bob's reaction", () => {
            const relations = alice
                .getRoom(roomId)
                ?.relations.getChildEventsForEvent(original, sdk.RelationType.Annotation, sdk.EventType.Reaction);
            return relations?.getRelations().some((e) => e.getSender() === bob.getUserId());
        });
        let duplicate;
        try {
            await bob.sendEvent(roomId, sdk.EventType.Reaction, reaction);
        } catch (e) {
            duplicate = e;
        }
        assert(duplicate?.errcode === "M_DUPLICATE_ANNOTATION", `a second identical reaction is refused, got ${duplicate}`);
        // The server's own view of the edit: the original with the edit bundled.
        const served = await bob.fetchRoomEvent(roomId, original);
        assert(served.unsigned?.["m.relations"]?.["m.replace"], "the server bundles the edit");
    },

    async encrypted_messages_both_ways() {
        const alice = (await user("alice", { crypto: true })).client;
        const bob = (await user("bob", { crypto: true })).client;
        const roomId = await sharedRoom(alice, bob, {
            initial_state: [{ type: "m.room.encryption", state_key: "", content: { algorithm: "m.megolm.v1.aes-sha2" } }],
        });
        assert(await alice.getCrypto().isEncryptionEnabledInRoom(roomId), "the room is encrypted");
        const decrypted = (client, body) => () =>
            client
                .getRoom(roomId)
                ?.getLiveTimeline()
                .getEvents()
                .some((e) => e.isEncrypted() && !e.isDecryptionFailure() && e.getContent().body === body);
        await alice.sendMessage(roomId, { msgtype: "m.text", body: "secret for Bob" });
        await until("Bob decrypts Alice's message", decrypted(bob, "secret for Bob"));
        await bob.sendMessage(roomId, { msgtype: "m.text", body: "secret for Alice" });
        await until("Alice decrypts Bob's message", decrypted(alice, "secret for Alice"));
        // What the server stored is ciphertext.
        const events = alice.getRoom(roomId).getLiveTimeline().getEvents().filter((e) => e.isEncrypted());
        const stored = await alice.fetchRoomEvent(roomId, events[events.length - 1].getId());
        assert(stored.type === "m.room.encrypted" && stored.content.ciphertext, "the server holds only ciphertext");
    },

    async pagination_from_a_new_device() {
        const { credentials, client: alice } = await user("alice");
        const { room_id: roomId } = await alice.createRoom({ preset: sdk.Preset.PrivateChat });
        const sent = [];
        for (let i = 0; i < 30; i++) {
            const body = `message ${i}`;
            await alice.sendMessage(roomId, { msgtype: "m.text", body });
            sent.push(body);
        }
        const login = await sdk.createClient({ baseUrl }).loginRequest({
            type: "m.login.password",
            identifier: { type: "m.id.user", user: credentials.user_id },
            password: PASSWORD,
        });
        const fresh = await start(login, { initialSyncLimit: 5 });
        const room = await until("the new device knows the room", () => fresh.getRoom(roomId));
        assert(timelineBodies(fresh, roomId).length <= 5, "the initial sync is limited");
        const atStart = () => room.getLiveTimeline().getEvents()[0]?.getType() === "m.room.create";
        for (let i = 0; i < 20 && !atStart(); i++) {
            await fresh.scrollback(room, 10);
        }
        const bodies = timelineBodies(fresh, roomId);
        assert(JSON.stringify(bodies) === JSON.stringify(sent), `history in order from the new device: ${bodies}`);
        assert(room.getLiveTimeline().getEvents()[0].getType() === "m.room.create", "paging reaches the room's start");
    },

    async typing_and_receipts() {
        const alice = (await user("alice")).client;
        const bob = (await user("bob")).client;
        const roomId = await sharedRoom(alice, bob);
        await alice.sendTyping(roomId, true, 20_000);
        await until("Bob sees Alice typing", () => bob.getRoom(roomId)?.getMember(alice.getUserId())?.typing);
        await alice.sendTyping(roomId, false, 0);
        await until("Bob sees Alice stop", () => bob.getRoom(roomId)?.getMember(alice.getUserId())?.typing === false);
        const { event_id: eventId } = await alice.sendMessage(roomId, { msgtype: "m.text", body: "read me" });
        const event = await until("Bob has the message", () => bob.getRoom(roomId)?.findEventById(eventId));
        await bob.sendReadReceipt(event);
        await until("Alice sees Bob's receipt", () =>
            alice.getRoom(roomId)?.getUsersReadUpTo(alice.getRoom(roomId).findEventById(eventId)).includes(bob.getUserId()),
        );
    },

    async profile_change_visible_to_others() {
        const alice = (await user("alice")).client;
        const bob = (await user("bob")).client;
        const roomId = await sharedRoom(alice, bob);
        await alice.setDisplayName("Alice Liddell");
        await until("Bob sees Alice's new name in the room", () =>
            bob.getRoom(roomId)?.getMember(alice.getUserId())?.name === "Alice Liddell",
        );
        const profile = await bob.getProfileInfo(alice.getUserId());
        assert(profile.displayname === "Alice Liddell", "the profile has the new name");
    },

    async logout() {
        const { credentials, client } = await user("leaver");
        await client.logout(true);
        const stale = sdk.createClient({ baseUrl, accessToken: credentials.access_token, userId: credentials.user_id });
        let refused;
        try {
            await stale.whoami();
        } catch (e) {
            refused = e;
        }
        assert(refused?.errcode === "M_UNKNOWN_TOKEN" && refused.httpStatus === 401, `the token is gone: ${refused}`);
    },
};

const scenario = scenarios[scenarioName];
if (!scenario) {
    console.error(`unknown scenario ${scenarioName}; known: ${Object.keys(scenarios).join(", ")}`);
    process.exit(2);
}
try {
    await scenario();
    console.log(`js-sdk scenario ${scenarioName}: ok`);
    process.exit(0);
} catch (e) {
    console.error(`js-sdk scenario ${scenarioName} failed: ${e?.stack ?? e}`);
    process.exit(1);
}
