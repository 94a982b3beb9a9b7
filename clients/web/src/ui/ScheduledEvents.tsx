// A server's scheduled events (extensions-spec §12): the homeserver lists
// the scheduled and active ones with their interested counts (§22); a member
// marks interest with an RSVP message event in the space (§12.2), and those
// with CREATE_EVENTS or MANAGE_EVENTS create events as state in the space
// (§12.1). The list follows new events and RSVPs as they sync.
import { type MatrixClient } from "matrix-js-sdk";
import { type FormEvent, useCallback, useEffect, useRef, useState } from "react";
import {
  type EventForm,
  buildScheduledEvent,
  eventTiming,
  formatEventTime,
  interestedLabel,
  newEventKey,
  rsvpContent,
  sortEvents,
  suggestedStart,
  toLocalInput,
  withRsvp,
} from "../logic/community";
import { Permissions } from "../logic/permissions";
import { type ChannelEntry, type NexusApi, type ScheduledEventEntry } from "../matrix/nexus";
import { describeError } from "../matrix/session";
import { useAsync, useStateChanges } from "./hooks";
import { Modal } from "./Modal";
import { useTimelineTick } from "./ThreadsBrowser";

const SCHEDULED_EVENT = "nexus.scheduled_event";
const RSVP = "nexus.scheduled_event.rsvp";
const VOICE_TYPES = ["voice", "stage"];

type EventsProps = { client: MatrixClient; api: NexusApi; serverId: string; perms: Permissions };

/** A button that opens the server's events. */
export function ScheduledEventsButton(props: EventsProps) {
  const [open, setOpen] = useState(false);
  return (
    <>
      <button className="icon" aria-label="Events" title="Events" aria-haspopup="dialog" onClick={() => setOpen(true)}>
        📅
      </button>
      {open && <ScheduledEventsDialog {...props} onClose={() => setOpen(false)} />}
    </>
  );
}

export function ScheduledEventsDialog({ client, api, serverId, perms, onClose }: EventsProps & { onClose: () => void }) {
  const stateChanges = useStateChanges(client, (id) => id === serverId);
  const rsvps = useTimelineTick(client, serverId, RSVP);
  const { value, error, reload } = useAsync(() => api.scheduledEvents(serverId), [serverId, stateChanges, rsvps]);
  const { value: overview } = useAsync(() => api.overview(serverId), [serverId]);
  const [creating, setCreating] = useState(false);
  // The caller's RSVPs until the homeserver's next answer counts them.
  const [mine, setMine] = useState<Record<string, boolean>>({});
  const [rsvpError, setRsvpError] = useState<string | null>(null);
  useEffect(() => setMine({}), [value]);

  // Modal refocuses its first field whenever onClose changes identity, and
  // the sidebar re-renders on every sync: hand it one that never changes.
  const onCloseRef = useRef(onClose);
  onCloseRef.current = onClose;
  const close = useCallback(() => onCloseRef.current(), []);

  const canCreate = perms.has("CREATE_EVENTS") || perms.has("MANAGE_EVENTS");
  const channels = overview?.channels ?? [];
  const entries = sortEvents(value?.events ?? []).map((entry) => (entry.id in mine ? withRsvp(entry, mine[entry.id]) : entry));

  const toggle = async (entry: ScheduledEventEntry) => {
    const interested = !entry.you_interested;
    setRsvpError(null);
    setMine((m) => ({ ...m, [entry.id]: interested }));
    try {
      await client.sendEvent(serverId, RSVP as never, rsvpContent(entry.id, interested) as never);
      reload();
    } catch (err) {
      setMine((m) => {
        const rest = { ...m };
        delete rest[entry.id];
        return rest;
      });
      setRsvpError(describeError(err));
    }
  };

  return (
    <Modal title="Events" onClose={close}>
      {creating ? (
        <CreateEventForm
          client={client}
          serverId={serverId}
          voiceChannels={channels.filter((c) => VOICE_TYPES.includes(c.channel.type ?? ""))}
          onCancel={() => setCreating(false)}
          onCreated={() => {
            setCreating(false);
            reload();
          }}
        />
      ) : (
        <>
          <div className="events-toolbar">
            <p className="muted">{entries.length === 1 ? "1 event" : `${entries.length} events`}</p>
            {canCreate && (
              <button className="primary" onClick={() => setCreating(true)}>
                Create event
              </button>
            )}
          </div>
          {error ? <p className="error" role="alert">{describeError(error)}</p> : null}
          {rsvpError && <p className="error" role="alert">{rsvpError}</p>}
          {!value && !error && <p className="muted">Loading…</p>}
          {value && entries.length === 0 && <p className="muted">No upcoming events. {canCreate ? "Schedule one for your community." : ""}</p>}
          <ul className="event-list" role="list" aria-label="Upcoming events">
            {entries.map((entry) => (
              <EventCard key={entry.id} client={client} serverId={serverId} entry={entry} channels={channels} onToggle={() => toggle(entry)} />
            ))}
          </ul>
        </>
      )}
    </Modal>
  );
}

function EventCard({ client, serverId, entry, channels, onToggle }: {
  client: MatrixClient;
  serverId: string;
  entry: ScheduledEventEntry;
  channels: ChannelEntry[];
  onToggle: () => void;
}) {
  const { event } = entry;
  const headingId = `scheduled-event-${entry.id}`;
  const channelName = event.channel
    ? channels.find((c) => c.room_id === event.channel)?.name ?? client.getRoom(event.channel)?.name ?? "a voice channel"
    : null;
  const host = client.getRoom(serverId)?.getMember(event.creator)?.name ?? event.creator;
  return (
    <li className="event-card" aria-labelledby={headingId} data-event-id={entry.id}>
      <p className={event.status === "active" ? "event-when live" : "event-when"}>
        {eventTiming(entry, Date.now())} ·{" "}
        <time dateTime={new Date(event.start).toISOString()}>{formatEventTime(event.start, event.end)}</time>
      </p>
      <h3 id={headingId}>{event.name}</h3>
      <p className="event-where">
        <span aria-hidden="true">{channelName ? "🔊" : "📍"}</span> {channelName ?? event.location}
      </p>
      {event.description && <p className="event-description">{event.description}</p>}
      <p className="event-host muted">Hosted by {host}</p>
      <div className="event-footer">
        <span className="event-interested" data-count={entry.interested}>
          <span aria-hidden="true">👥</span> {interestedLabel(entry.interested)}
        </span>
        <button className={entry.you_interested ? "interest on" : "interest"} aria-pressed={entry.you_interested} onClick={onToggle}>
          <span aria-hidden="true">{entry.you_interested ? "✓ " : "☆ "}</span>
          Interested
        </button>
      </div>
    </li>
  );
}

function CreateEventForm({ client, serverId, voiceChannels, onCancel, onCreated }: {
  client: MatrixClient;
  serverId: string;
  voiceChannels: ChannelEntry[];
  onCancel: () => void;
  onCreated: () => void;
}) {
  const [form, setForm] = useState<EventForm>(() => ({
    name: "",
    start: toLocalInput(suggestedStart(Date.now())),
    end: "",
    description: "",
    where: voiceChannels.length ? "channel" : "location",
    channel: voiceChannels[0]?.room_id ?? "",
    location: "",
  }));
  const [problem, setProblem] = useState<{ field: keyof EventForm; error: string } | null>(null);
  const [busy, setBusy] = useState(false);
  const set = (field: keyof EventForm) => (e: { target: { value: string } }) => setForm((f) => ({ ...f, [field]: e.target.value }));
  const invalid = (field: keyof EventForm) => (problem?.field === field ? { "aria-invalid": true, "aria-describedby": "event-form-error" } : {});

  // The channel list arrives after the form opens: default to its first voice channel then.
  useEffect(() => {
    if (!form.channel && voiceChannels.length) setForm((f) => ({ ...f, where: "channel", channel: voiceChannels[0].room_id }));
  }, [voiceChannels.length]);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const built = buildScheduledEvent(form, client.getUserId()!, Date.now());
    if (!built.ok) {
      setProblem(built);
      document.getElementById(`event-${built.field}`)?.focus();
      return;
    }
    setBusy(true);
    setProblem(null);
    try {
      await client.sendStateEvent(serverId, SCHEDULED_EVENT as never, built.value as never, newEventKey(built.value.name));
      onCreated();
    } catch (err) {
      setProblem({ field: "name", error: describeError(err) });
      setBusy(false);
    }
  };

  return (
    <form className="event-form" aria-label="Create event" onSubmit={submit} noValidate>
      <label>
        Event name
        <input id="event-name" required maxLength={100} value={form.name} onChange={set("name")} {...invalid("name")} />
      </label>
      <div className="event-times">
        <label>
          Start time
          <input id="event-start" type="datetime-local" required min={toLocalInput(Date.now())} value={form.start} onChange={set("start")} {...invalid("start")} />
        </label>
        <label>
          End time {form.where === "channel" && <span className="muted">(optional)</span>}
          <input id="event-end" type="datetime-local" min={form.start} value={form.end} onChange={set("end")} {...invalid("end")} />
        </label>
      </div>
      <fieldset>
        <legend>Where</legend>
        <label className="radio">
          <input type="radio" name="where" value="channel" checked={form.where === "channel"} disabled={!voiceChannels.length} onChange={() => setForm((f) => ({ ...f, where: "channel" }))} />
          Voice channel
        </label>
        <label className="radio">
          <input type="radio" name="where" value="location" checked={form.where === "location"} onChange={() => setForm((f) => ({ ...f, where: "location" }))} />
          Somewhere else
        </label>
        {form.where === "channel" ? (
          <label>
            Channel
            <select id="event-channel" value={form.channel} onChange={set("channel")} {...invalid("channel")}>
              {voiceChannels.map((c) => (
                <option key={c.room_id} value={c.room_id}>{c.name ?? c.room_id}</option>
              ))}
            </select>
          </label>
        ) : (
          <label>
            Location
            <input id="event-location" maxLength={100} placeholder="Community hall, Elm Street" value={form.location} onChange={set("location")} {...invalid("location")} />
          </label>
        )}
      </fieldset>
      <label>
        Description <span className="muted">(optional)</span>
        <textarea id="event-description" maxLength={1000} rows={3} value={form.description} onChange={set("description")} {...invalid("description")} />
      </label>
      {problem && <p className="error" role="alert" id="event-form-error">{problem.error}</p>}
      <div className="row">
        <button type="button" onClick={onCancel}>Back</button>
        <button className="primary" type="submit" disabled={busy}>
          Create event
        </button>
      </div>
    </form>
  );
}
