// matrix-appservice-bridge (npm) as a judge of Nexus's application service
// API, unchanged: the Bridge reads the registration file, listens, and its
// intents register ghosts and send messages; an alias query makes it create
// a room on demand; typing and receipts reach its onEphemeralEvent.
//
// Run by tests/appservice_judges.rs:
//   node bridge_judge.cjs <hs url> <domain> <registration.yaml> <port> <alice token> <alice id>
// (NODE_PATH points at the judge's node_modules). Exits 0 when every check passed.

const { Bridge } = require("matrix-appservice-bridge");

const [hsUrl, domain, registration, port, aliceToken, aliceId] = process.argv.slice(2);
const WAIT_MS = 20000;

function fail(message) {
    console.log(`FAILED: ${message}`);
    process.exit(1);
}

async function alice(method, path, body) {
    const response = await fetch(`${hsUrl}/_matrix/client/v3${path}`, {
        method,
        headers: { Authorization: `Bearer ${aliceToken}`, "Content-Type": "application/json" },
        body: body === undefined ? undefined : JSON.stringify(body),
    });
    const data = await response.json();
    if (response.status !== 200) fail(`alice ${method} ${path}: ${response.status} ${JSON.stringify(data)}`);
    return data;
}

async function waitFor(what, list, predicate) {
    const deadline = Date.now() + WAIT_MS;
    while (Date.now() < deadline) {
        const found = list.find(predicate);
        if (found) return found;
        await new Promise((resolve) => setTimeout(resolve, 100));
    }
    fail(`${what} did not arrive; got ${JSON.stringify(list.map((e) => e.type))}`);
}

async function main() {
    const events = [];
    const ephemeral = [];
    const bridge = new Bridge({
        homeserverUrl: hsUrl,
        domain,
        registration,
        controller: {
            onEvent: (request) => events.push(request.getData()),
            onEphemeralEvent: (request) => ephemeral.push(request.getData()),
            onAliasQuery: (alias, localpart) => ({
                creationOpts: { room_alias_name: localpart, preset: "public_chat", name: "Provisioned on demand" },
            }),
        },
    });
    await bridge.run(Number(port));

    const ghost = bridge.getIntent(`@mab_ghost:${domain}`);
    await ghost.ensureRegistered();
    const { room_id: roomId } = await ghost.createRoom({ createAsClient: true, options: { invite: [aliceId] } });
    await alice("POST", `/join/${encodeURIComponent(roomId)}`, {});
    const { event_id: sent } = await ghost.sendText(roomId, "hello from an intent");
    const seen = await alice("GET", `/rooms/${encodeURIComponent(roomId)}/event/${encodeURIComponent(sent)}`);
    if (seen.content.body !== "hello from an intent" || seen.sender !== `@mab_ghost:${domain}`) {
        fail(`the intent's message reads ${JSON.stringify(seen)}`);
    }

    const { event_id: reply } = await alice(
        "PUT",
        `/rooms/${encodeURIComponent(roomId)}/send/m.room.message/mab1`,
        { msgtype: "m.text", body: "hello bridge" },
    );
    await waitFor("alice's message", events, (e) => e.event_id === reply);

    await alice("PUT", `/rooms/${encodeURIComponent(roomId)}/typing/${encodeURIComponent(aliceId)}`, {
        typing: true,
        timeout: 20000,
    });
    await alice("POST", `/rooms/${encodeURIComponent(roomId)}/receipt/m.read/${encodeURIComponent(sent)}`, {});
    await waitFor("typing", ephemeral, (e) => e.type === "m.typing" && e.content.user_ids.includes(aliceId));
    await waitFor("a receipt", ephemeral, (e) => e.type === "m.receipt" && e.content[sent]);

    const alias = `#mab_lobby:${domain}`;
    const joined = await alice("POST", `/join/${encodeURIComponent(alias)}`, {});
    const state = await alice("GET", `/rooms/${encodeURIComponent(joined.room_id)}/state/m.room.name/`);
    if (state.name !== "Provisioned on demand") fail(`the provisioned room is named ${JSON.stringify(state)}`);

    console.log("OK");
    process.exit(0);
}

main().catch((e) => fail(e && e.stack ? e.stack : String(e)));
