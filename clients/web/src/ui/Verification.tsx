// Verifying each other by comparing emoji (SAS, m.sas.v1), Element-style:
// incoming requests pop up; a DM's header starts one. Both people must see
// the same emoji and say so before anyone is marked verified.
import { type MatrixClient } from "matrix-js-sdk";
import { CryptoEvent, type ShowSasCallbacks, type Verifier, type VerificationRequest, VerificationPhase, VerificationRequestEvent, VerifierEvent } from "matrix-js-sdk/lib/crypto-api";
import { useEffect, useReducer, useRef, useState } from "react";
import { Modal } from "./Modal";

/** Pops up a dialog for each verification request someone sends us. */
export function VerificationRequests({ client }: { client: MatrixClient }) {
  const [request, setRequest] = useState<VerificationRequest | null>(null);
  useEffect(() => {
    // A new session replays old requests from its DMs' history: only live
    // ones that nobody has answered yet are shown. An in-room request's
    // transaction ID is its event's ID; answers refer to it.
    const answeredInRoom = (r: VerificationRequest) =>
      !!r.roomId &&
      !!client
        .getRoom(r.roomId)
        ?.getLiveTimeline()
        .getEvents()
        .some((e) => e.getType().startsWith("m.key.verification.") && e.getContent()["m.relates_to"]?.event_id === r.transactionId);
    const onRequest = (r: VerificationRequest) => {
      if (r.initiatedByMe) return;
      // The rest of the sync that brought it (answers included) lands first.
      setTimeout(() => {
        if (r.phase === VerificationPhase.Requested && (r.timeout ?? 1) > 0 && !answeredInRoom(r)) setRequest(r);
      }, 500);
    };
    client.on(CryptoEvent.VerificationRequestReceived, onRequest);
    return () => {
      client.off(CryptoEvent.VerificationRequestReceived, onRequest);
    };
  }, [client]);
  // A request answered elsewhere (another of our sessions, or cancelled)
  // before this one took it up goes away by itself.
  useEffect(() => {
    if (!request) return;
    const onChange = () => {
      const settled = request.phase === VerificationPhase.Cancelled || request.phase === VerificationPhase.Done;
      if (settled && !answered.current) setRequest(null);
    };
    request.on(VerificationRequestEvent.Change, onChange);
    onChange();
    return () => {
      request.off(VerificationRequestEvent.Change, onChange);
    };
  }, [request]);
  const answered = useRef(false);
  useEffect(() => {
    answered.current = false;
  }, [request]);
  return request ? (
    <VerificationDialog client={client} request={request} onClose={() => setRequest(null)} onAnswer={() => (answered.current = true)} />
  ) : null;
}

/** Starts verifying `userId` in their DM, and shows how it goes. */
export function VerifyUserButton({ client, userId, roomId, verified }: { client: MatrixClient; userId: string; roomId: string; verified: boolean }) {
  const [request, setRequest] = useState<VerificationRequest | null>(null);
  const [error, setError] = useState<string | null>(null);
  return (
    <>
      <button
        hidden={verified}
        onClick={async () => {
          try {
            setRequest(await client.getCrypto()!.requestVerificationDM(userId, roomId));
          } catch (e) {
            setError(String(e));
          }
        }}
      >
        Verify
      </button>
      {error && <span className="error">{error}</span>}
      {request && <VerificationDialog client={client} request={request} onClose={() => setRequest(null)} />}
    </>
  );
}

function VerificationDialog({
  client,
  request,
  onClose,
  onAnswer,
}: {
  client: MatrixClient;
  request: VerificationRequest;
  onClose: () => void;
  onAnswer?: () => void;
}) {
  const [, changed] = useReducer((n: number) => n + 1, 0);
  const [sas, setSas] = useState<ShowSasCallbacks | null>(null);
  const [confirmed, setConfirmed] = useState(false);
  const other = client.getUser(request.otherUserId)?.displayName ?? request.otherUserId;

  useEffect(() => {
    request.on(VerificationRequestEvent.Change, changed);
    return () => {
      request.off(VerificationRequestEvent.Change, changed);
    };
  }, [request]);

  // Once both are ready, the one who asked starts SAS; both sides then run
  // the verifier (once), which shows the emoji.
  const started = useRef(false);
  const running = useRef<Verifier | null>(null);
  useEffect(() => {
    if (request.phase === VerificationPhase.Ready && request.initiatedByMe && !started.current) {
      started.current = true;
      request.startVerification("m.sas.v1").catch(() => undefined);
    }
    const verifier = request.verifier;
    if (request.phase === VerificationPhase.Started && verifier && running.current !== verifier) {
      running.current = verifier;
      verifier.on(VerifierEvent.ShowSas, setSas);
      const shown = verifier.getShowSasCallbacks();
      if (shown) setSas(shown);
      verifier.verify().catch(() => undefined);
    }
  });

  let body;
  if (request.phase === VerificationPhase.Requested && !request.initiatedByMe) {
    body = (
      <>
        <p>{other} wants to verify with you by comparing emoji.</p>
        <div className="row">
          <button
            className="primary"
            onClick={() => {
              onAnswer?.();
              request.accept();
            }}
          >
            Accept
          </button>
          <button onClick={() => request.cancel().then(onClose)}>Decline</button>
        </div>
      </>
    );
  } else if (request.phase === VerificationPhase.Done) {
    body = (
      <p role="status" className="verified">
        ✅ {other} is verified.
      </p>
    );
  } else if (request.phase === VerificationPhase.Cancelled) {
    body = <p role="status">Verification cancelled{request.cancellationCode ? ` (${request.cancellationCode})` : ""}.</p>;
  } else if (sas?.sas.emoji) {
    body = (
      <>
        <p>Check that {other} sees the same emoji, in the same order:</p>
        <ol className="sas-emoji" aria-label="Emoji to compare">
          {sas.sas.emoji.map(([emoji, name], i) => (
            <li key={i}>
              <span aria-hidden="true">{emoji}</span>
              <span>{name}</span>
            </li>
          ))}
        </ol>
        {confirmed ? (
          <p role="status">Waiting for {other}…</p>
        ) : (
          <div className="row">
            <button
              className="primary"
              onClick={() => {
                setConfirmed(true);
                sas.confirm().catch(() => undefined);
              }}
            >
              They match
            </button>
            <button className="danger" onClick={() => sas.mismatch()}>
              They don't match
            </button>
          </div>
        )}
      </>
    );
  } else {
    body = <p role="status">Waiting for {other}…</p>;
  }
  return (
    <Modal title={`Verify ${other}`} onClose={onClose}>
      {body}
    </Modal>
  );
}
