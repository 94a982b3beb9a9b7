// React glue for matrix-js-sdk: its models are mutable and emit events, so
// components subscribe to what they draw and re-render on the next frame.
import { type MatrixClient, ClientEvent, MatrixEventEvent, RoomEvent, RoomStateEvent, RoomMemberEvent } from "matrix-js-sdk";
import { useEffect, useReducer, useRef, useState } from "react";

/** Re-renders (at most once a frame) when the client's rooms, timelines or state change. */
export function useClientUpdates(client: MatrixClient): number {
  const [tick, bump] = useReducer((n: number) => n + 1, 0);
  const pending = useRef(false);
  useEffect(() => {
    const schedule = () => {
      if (pending.current) return;
      pending.current = true;
      requestAnimationFrame(() => {
        pending.current = false;
        bump();
      });
    };
    const events = [
      ClientEvent.Room, ClientEvent.DeleteRoom, ClientEvent.Sync, ClientEvent.AccountData, RoomEvent.Timeline,
      RoomEvent.Redaction, RoomEvent.LocalEchoUpdated, RoomEvent.Receipt, RoomEvent.MyMembership, RoomEvent.Name,
      RoomEvent.UnreadNotifications, RoomEvent.TimelineReset, RoomStateEvent.Events, RoomMemberEvent.Typing,
      RoomMemberEvent.Membership, MatrixEventEvent.Decrypted,
    ] as const;
    for (const e of events) client.on(e as never, schedule as never);
    return () => {
      for (const e of events) client.off(e as never, schedule as never);
    };
  }, [client]);
  return tick;
}

/** A value loaded asynchronously, reloaded when `deps` change; errors are kept for display. */
export function useAsync<T>(load: () => Promise<T>, deps: unknown[]): { value: T | undefined; error: unknown; reload: () => void } {
  const [state, setState] = useState<{ value: T | undefined; error: unknown }>({ value: undefined, error: undefined });
  const [round, reload] = useReducer((n: number) => n + 1, 0);
  useEffect(() => {
    let live = true;
    load().then(
      (value) => live && setState({ value, error: undefined }),
      (error) => live && setState((s) => ({ value: s.value, error })),
    );
    return () => {
      live = false;
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [...deps, round]);
  return { ...state, reload };
}

/** The hash route: `#/server/<space>/<room>`, `#/dm/<room>`, `#/invite/<code>`. */
export function useHashRoute(): [string[], (parts: string[]) => void] {
  const read = () => window.location.hash.replace(/^#\/?/, "").split("/").filter(Boolean).map(decodeURIComponent);
  const [parts, setParts] = useState(read);
  useEffect(() => {
    const onChange = () => setParts(read());
    window.addEventListener("hashchange", onChange);
    return () => window.removeEventListener("hashchange", onChange);
  }, []);
  const go = (next: string[]) => {
    window.location.hash = `#/${next.map(encodeURIComponent).join("/")}`;
  };
  return [parts, go];
}

/** A counter that moves when a state event arrives in a room `watch` accepts. */
export function useStateChanges(client: MatrixClient, watch: (roomId: string) => boolean): number {
  const [tick, bump] = useReducer((n: number) => n + 1, 0);
  const watchRef = useRef(watch);
  watchRef.current = watch;
  useEffect(() => {
    const onState = (event: { getRoomId(): string | undefined }) => {
      const roomId = event.getRoomId();
      if (roomId && watchRef.current(roomId)) bump();
    };
    client.on(RoomStateEvent.Events, onState as never);
    return () => {
      client.off(RoomStateEvent.Events, onState as never);
    };
  }, [client]);
  return tick;
}
