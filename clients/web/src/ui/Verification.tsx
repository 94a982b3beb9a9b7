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
    const onRequest = (r: VerificationRequest) => {
      if (!r.initiatedByMe) setRequest(r);
    };
    client.on(CryptoEvent.VerificationRequestReceived, onRequest);
    return () => {
      client.off(CryptoEvent.VerificationRequestReceived, onRequest);
    };
  }, [client]);
  return request ? <VerificationDialog client={client} request={request} onClose={() => setRequest(null)} /> : null;
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

function VerificationDialog({ client, request, onClose }: { client: MatrixClient; request: VerificationRequest; onClose: () => void }) {
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
          <button className="primary" onClick={() => request.accept()}>
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
