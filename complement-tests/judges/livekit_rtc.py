"""LiveKit's own real-time client SDK (PyPI `livekit`, the Python face of
LiveKit's native Rust client) as a judge of Nexus's embedded SFU: a real
participant that joins a room over LiveKit's signalling protocol, publishes
or receives media and data, and reports what it sees.

Each subcommand is a long-running participant that prints one JSON object per
line on stdout, flushed as it happens, so a Rust scenario can read events
while the participant is still in the room. Every object has "event", "t"
(seconds since the script started) and "name" (the --name label). Exit codes:
0 after SIGTERM/SIGINT or --seconds (having left the room cleanly), 2 when
the connection could not be made (after a `connect_failed` line), 3 when the
room ended on its own (after a `disconnected` line: the server removed us,
closed the room, or the connection was lost for good), 4 when the server
refused the track (after a `publish_failed` line).

Subcommands:
  publish-sine   publish a microphone track carrying a continuous sine
                 (and optionally a data message once a second);
  publish-video  publish a camera track carrying a moving gradient;
  listen         subscribe to everything and report what arrives: the
                 dominant frequency and loudness of each audio track, the
                 frame count and size of each video track, data messages;
  selftest       check the audio analysis on generated tones (no server).

The environment is made by scripts/livekit-judge.sh.
"""

import argparse
import asyncio
import json
import logging
import math
import signal
import sys
import time

import numpy as np
from livekit import rtc
# Not re-exported by livekit.rtc in 1.2.1.
from livekit.rtc.participant import PublishTrackError

SAMPLE_RATE = 48000
# 10 ms frames: WebRTC's native audio frame size, so the SDK need not rebuffer.
AUDIO_FRAME_SAMPLES = SAMPLE_RATE // 100
SINE_AMPLITUDE = 0.3
# Half a second at 48 kHz gives 2 Hz FFT bins: enough to tell 440 from 460.
ANALYSIS_WINDOW_SAMPLES = SAMPLE_RATE // 2
VIDEO_REPORT_INTERVAL = 0.5
VIDEO_FPS = 15
DATA_TOPIC = "judge"

STARTED = time.monotonic()
# The --name label, set once the arguments are parsed.
label = ""


def emit(event: str, **fields) -> None:
    """Prints one event line; flushed so the reader sees it at once."""
    line = {"event": event, "t": round(time.monotonic() - STARTED, 3), "name": label}
    line.update(fields)
    print(json.dumps(line), flush=True)


def report_failure(task: asyncio.Task) -> None:
    """A media or data task that dies (say the SFU refuses data packets)
    is itself a finding: it is reported, and the participant stays on."""
    if not task.cancelled() and task.exception() is not None:
        error = task.exception()
        emit("error", task=task.get_name(), error=getattr(error, "message", None) or repr(error))


def start(coroutine, name: str) -> asyncio.Task:
    task = asyncio.create_task(coroutine, name=name)
    task.add_done_callback(report_failure)
    return task


def enum_name(enum, value) -> str:
    """The protobuf enum's symbolic name, or the number if this SDK's enum
    does not know it (a newer server may send values we have no name for)."""
    try:
        return enum.Name(value)
    except ValueError:
        return str(value)


def kind_name(kind) -> str:
    return {rtc.TrackKind.KIND_AUDIO: "audio", rtc.TrackKind.KIND_VIDEO: "video"}.get(
        kind, enum_name(rtc.TrackKind, kind)
    )


def analyse_audio(samples: np.ndarray) -> tuple[float, float]:
    """The dominant frequency (Hz) and RMS (of samples scaled to [-1, 1]) of
    mono int16 samples at 48 kHz. The Hann window keeps a tone's energy in its
    own bin instead of leaking into its neighbours."""
    normalised = samples.astype(np.float64) / 32768.0
    rms = float(np.sqrt(np.mean(normalised**2))) if len(normalised) else 0.0
    spectrum = np.abs(np.fft.rfft(normalised * np.hanning(len(normalised))))
    frequencies = np.fft.rfftfreq(len(normalised), d=1.0 / SAMPLE_RATE)
    return float(frequencies[int(np.argmax(spectrum))]), rms


def sine_samples(freq: float, first_sample: int, count: int) -> np.ndarray:
    """`count` int16 samples of the sine from absolute sample index
    `first_sample`, so consecutive frames join without a phase jump."""
    index = np.arange(first_sample, first_sample + count, dtype=np.float64)
    wave = SINE_AMPLITUDE * np.sin(2 * math.pi * freq * index / SAMPLE_RATE)
    return (wave * 32767).astype(np.int16)


def selftest() -> int:
    for freq in (440.0, 1000.0):
        peak_hz, rms = analyse_audio(sine_samples(freq, 12345, ANALYSIS_WINDOW_SAMPLES))
        assert abs(peak_hz - freq) <= 2, f"{freq} Hz tone analysed as {peak_hz} Hz"
        # A sine's RMS is its amplitude over sqrt 2.
        assert abs(rms - SINE_AMPLITUDE / math.sqrt(2)) < 0.01, f"{freq} Hz tone has rms {rms}"
        emit("selftest", freq=freq, peak_hz=peak_hz, rms=round(rms, 4))
    _, silent_rms = analyse_audio(np.zeros(ANALYSIS_WINDOW_SAMPLES, dtype=np.int16))
    assert silent_rms == 0.0, f"silence has rms {silent_rms}"
    emit("selftest_passed")
    return 0


def watch_room(room: rtc.Room, on_room_gone) -> None:
    """Reports the room events every participant reports. Signatures as
    livekit/rtc/room.py (1.2.1) emits them."""

    @room.on("participant_connected")
    def _(participant: rtc.RemoteParticipant):
        emit("participant_connected", identity=participant.identity, sid=participant.sid)

    @room.on("participant_disconnected")
    def _(participant: rtc.RemoteParticipant):
        emit("participant_disconnected", identity=participant.identity, sid=participant.sid)

    @room.on("track_subscribed")
    def _(track: rtc.Track, publication: rtc.RemoteTrackPublication, participant):
        emit(
            "track_subscribed",
            kind=kind_name(track.kind),
            track_sid=publication.sid,
            participant=participant.identity,
            source=enum_name(rtc.TrackSource, publication.source),
        )

    # `track` is None when the track was already gone (room.py passes
    # publication.track, which may have been cleared).
    @room.on("track_unsubscribed")
    def _(track, publication: rtc.RemoteTrackPublication, participant):
        emit(
            "track_unsubscribed",
            kind=kind_name(publication.kind),
            track_sid=publication.sid,
            participant=participant.identity,
        )

    @room.on("track_subscription_failed")
    def _(participant: rtc.RemoteParticipant, track_sid: str, error: str):
        emit("track_subscription_failed", participant=participant.identity, track_sid=track_sid, error=error)

    # Mute events come for the local participant's tracks too.
    @room.on("track_muted")
    def _(participant: rtc.Participant, publication: rtc.TrackPublication):
        emit("track_muted", participant=participant.identity, track_sid=publication.sid)

    @room.on("track_unmuted")
    def _(participant: rtc.Participant, publication: rtc.TrackPublication):
        emit("track_unmuted", participant=participant.identity, track_sid=publication.sid)

    # `participant` is None for data sent by the server rather than a peer.
    @room.on("data_received")
    def _(packet: rtc.DataPacket):
        emit(
            "data_received",
            participant=packet.participant.identity if packet.participant else None,
            topic=packet.topic,
            payload=packet.data.decode("utf-8", errors="replace"),
        )

    # The SFU's SpeakersChanged, as the SDK keeps it: who speaks now.
    @room.on("active_speakers_changed")
    def _(speakers: list):
        emit("active_speakers", identities=sorted(p.identity for p in speakers))

    # The SDK reconnects by itself; these say when the SFU made it try.
    @room.on("reconnecting")
    def _():
        emit("reconnecting")

    @room.on("reconnected")
    def _():
        emit("reconnected")

    # Room.disconnect() may report a disconnection the FFI has already
    # reported, so only the first is printed.
    reported = False

    @room.on("disconnected")
    def _(reason):
        nonlocal reported
        if not reported:
            reported = True
            emit("disconnected", reason=enum_name(rtc.DisconnectReason, reason))
            on_room_gone()


async def feed_sine(source: rtc.AudioSource, freq: float) -> None:
    """Feeds the sine in real time. Frames are due on a fixed monotonic
    schedule (not "sleep 10 ms after each"), so the rate cannot drift; they go
    a little ahead of due so the source's queue never runs dry and plays
    silence between frames."""
    lead = 0.04
    start = time.monotonic()
    frame_index = 0
    while True:
        delay = start + frame_index * AUDIO_FRAME_SAMPLES / SAMPLE_RATE - lead - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        samples = sine_samples(freq, frame_index * AUDIO_FRAME_SAMPLES, AUDIO_FRAME_SAMPLES)
        await source.capture_frame(rtc.AudioFrame(samples.tobytes(), SAMPLE_RATE, 1, AUDIO_FRAME_SAMPLES))
        frame_index += 1


async def send_data_every_second(room: rtc.Room, text: str) -> None:
    while True:
        await room.local_participant.publish_data(text, reliable=True, topic=DATA_TOPIC)
        await asyncio.sleep(1)


async def publish_sine(room: rtc.Room, args) -> list[asyncio.Task]:
    source = rtc.AudioSource(SAMPLE_RATE, 1)
    track = rtc.LocalAudioTrack.create_audio_track("sine", source)
    options = rtc.TrackPublishOptions(source=rtc.TrackSource.SOURCE_MICROPHONE)
    publication = await room.local_participant.publish_track(track, options)
    emit("published", kind="audio", track_sid=publication.sid, source="SOURCE_MICROPHONE")
    tasks = [start(feed_sine(source, args.freq), "feed_sine")]
    if args.data is not None:
        tasks.append(start(send_data_every_second(room, args.data), "send_data"))
    return tasks


def gradient_frame(width: int, height: int, frame_index: int) -> bytes:
    """An RGBA frame whose gradient slides and whose colour turns with each
    frame: every frame differs, so the encoder keeps sending real data."""
    x = (np.arange(width) * 255 // max(width - 1, 1) + frame_index * 4) % 256
    y = np.arange(height) * 255 // max(height - 1, 1)
    rgba = np.empty((height, width, 4), dtype=np.uint8)
    rgba[:, :, 0] = x[np.newaxis, :]
    rgba[:, :, 1] = y[:, np.newaxis]
    rgba[:, :, 2] = (frame_index * 8) % 256
    rgba[:, :, 3] = 255
    return rgba.tobytes()


async def feed_video(source: rtc.VideoSource, width: int, height: int) -> None:
    """Captures frames at VIDEO_FPS on a fixed monotonic schedule."""
    start = time.monotonic()
    frame_index = 0
    while True:
        delay = start + frame_index / VIDEO_FPS - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        data = gradient_frame(width, height, frame_index)
        source.capture_frame(rtc.VideoFrame(width, height, rtc.VideoBufferType.RGBA, data))
        frame_index += 1


async def publish_video(room: rtc.Room, args) -> list[asyncio.Task]:
    source = rtc.VideoSource(args.width, args.height)
    track = rtc.LocalVideoTrack.create_video_track("gradient", source)
    options = rtc.TrackPublishOptions(source=rtc.TrackSource.SOURCE_CAMERA)
    publication = await room.local_participant.publish_track(track, options)
    emit("published", kind="video", track_sid=publication.sid, source="SOURCE_CAMERA")
    return [start(feed_video(source, args.width, args.height), "feed_video")]


async def report_audio(track: rtc.Track, track_sid: str, participant: str) -> None:
    """Every ANALYSIS_WINDOW_SAMPLES of received audio, one `audio` line.
    The stream resamples and downmixes to 48 kHz mono itself."""
    stream = rtc.AudioStream(track, sample_rate=SAMPLE_RATE, num_channels=1)
    pending: list[np.ndarray] = []
    pending_samples = 0
    try:
        async for event in stream:
            # Copied: the frame's buffer belongs to the SDK.
            samples = np.frombuffer(event.frame.data, dtype=np.int16).copy()
            pending.append(samples)
            pending_samples += len(samples)
            if pending_samples >= ANALYSIS_WINDOW_SAMPLES:
                window = np.concatenate(pending)
                peak_hz, rms = analyse_audio(window[:ANALYSIS_WINDOW_SAMPLES])
                emit("audio", participant=participant, track_sid=track_sid, peak_hz=peak_hz, rms=round(rms, 4))
                rest = window[ANALYSIS_WINDOW_SAMPLES:]
                pending, pending_samples = [rest], len(rest)
    finally:
        await stream.aclose()


async def report_video(track: rtc.Track, track_sid: str, participant: str) -> None:
    """At most one `video` line per VIDEO_REPORT_INTERVAL, with the running
    frame count; the first frame is reported at once."""
    stream = rtc.VideoStream(track)
    frames = 0
    last_report = -math.inf
    try:
        async for event in stream:
            frames += 1
            now = time.monotonic()
            if now - last_report >= VIDEO_REPORT_INTERVAL:
                last_report = now
                emit(
                    "video",
                    participant=participant,
                    track_sid=track_sid,
                    width=event.frame.width,
                    height=event.frame.height,
                    frames=frames,
                )
    finally:
        await stream.aclose()


def listen(room: rtc.Room, media_tasks: set[asyncio.Task]) -> None:
    """Registers, before connecting, a reader for every track subscribed to,
    including those already published when we join. A reader ends by itself
    when its track is unsubscribed (the stream ends)."""

    @room.on("track_subscribed")
    def _(track: rtc.Track, publication: rtc.RemoteTrackPublication, participant):
        reader = report_audio if track.kind == rtc.TrackKind.KIND_AUDIO else report_video
        task = start(reader(track, publication.sid, participant.identity), f"{reader.__name__} {publication.sid}")
        media_tasks.add(task)
        task.add_done_callback(media_tasks.discard)


async def run(args) -> int:
    loop = asyncio.get_running_loop()
    room = rtc.Room()
    # Why the participant should stop; the first reason wins.
    stop_reason: asyncio.Future[str] = loop.create_future()

    def stop(reason: str) -> None:
        if not stop_reason.done():
            stop_reason.set_result(reason)

    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop, "signal")
    if args.seconds is not None:
        loop.call_later(args.seconds, stop, "seconds")

    media_tasks: set[asyncio.Task] = set()
    watch_room(room, lambda: stop("room_gone"))
    if args.command == "listen":
        listen(room, media_tasks)

    options = rtc.RoomOptions(single_peer_connection=False) if args.v0 else rtc.RoomOptions()
    connecting = asyncio.create_task(room.connect(args.url, args.token, options))
    # Bounded: the SDK retries a failing join on its own, and a judge that
    # hangs would stall the scenario instead of failing it.
    await asyncio.wait({connecting, stop_reason}, timeout=args.connect_timeout, return_when=asyncio.FIRST_COMPLETED)
    if not connecting.done():
        connecting.cancel()
        if not stop_reason.done():
            emit("connect_failed", error=f"not connected within --connect-timeout {args.connect_timeout} s")
            return 2
        if stop_reason.result() == "seconds":
            emit("connect_failed", error=f"not connected within --seconds {args.seconds} s")
            return 2
        return 0
    if connecting.exception() is not None:
        error = connecting.exception()
        emit("connect_failed", error=getattr(error, "message", None) or repr(error))
        return 2

    emit(
        "connected",
        room=room.name,
        sid=room.local_participant.sid,
        identity=room.local_participant.identity,
        remote_participants=sorted(room.remote_participants),
    )

    publish = {"publish-sine": publish_sine, "publish-video": publish_video}.get(args.command)
    try:
        if publish is not None:
            # Raced against stopping: a server that never answers the
            # publication must not keep the judge from exiting on SIGTERM.
            publishing = asyncio.create_task(publish(room, args))
            await asyncio.wait({publishing, stop_reason}, return_when=asyncio.FIRST_COMPLETED)
            if not publishing.done():
                publishing.cancel()
            elif isinstance(publishing.exception(), PublishTrackError):
                emit("publish_failed", error=publishing.exception().message)
                return 4
            else:
                media_tasks.update(publishing.result())
        reason = await stop_reason
    finally:
        for task in list(media_tasks):
            task.cancel()
        await asyncio.gather(*media_tasks, return_exceptions=True)
        # Leaving the room is what lets the SFU tell the others at once,
        # rather than after its own timeout.
        try:
            await asyncio.wait_for(room.disconnect(), timeout=5)
        except TimeoutError:
            emit("error", task="disconnect", error="room.disconnect() did not finish within 5 s")
    return 3 if reason == "room_gone" else 0


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)

    participant = argparse.ArgumentParser(add_help=False)
    participant.add_argument("--url", required=True, help="the server's signalling URL, ws://host:port[/path]")
    participant.add_argument("--token", required=True, help="a LiveKit access token (JWT) for the room")
    participant.add_argument(
        "--v0",
        action="store_true",
        help="join with the two-peer-connection protocol (/rtc) straight away; "
        "by default the SDK tries single-peer-connection /rtc/v1 and falls back on a 404",
    )
    participant.add_argument("--name", help="label included in every line (default: the subcommand)")
    participant.add_argument(
        "--seconds", type=float, help="leave the room and exit after this long (default: run until killed)"
    )
    participant.add_argument(
        "--connect-timeout", type=float, default=30.0, help="give up joining after this long (default: 30)"
    )

    sine = commands.add_parser("publish-sine", parents=[participant], help="publish a microphone track carrying a sine")
    sine.add_argument("--freq", type=float, default=440.0, help="the sine's frequency in Hz (default: 440)")
    sine.add_argument("--data", help=f"also send this text reliably, topic {DATA_TOPIC!r}, once a second")

    video = commands.add_parser("publish-video", parents=[participant], help="publish a camera track carrying a moving gradient")
    video.add_argument("--width", type=int, default=320, help="frame width in pixels (default: 320)")
    video.add_argument("--height", type=int, default=240, help="frame height in pixels (default: 240)")

    commands.add_parser("listen", parents=[participant], help="subscribe to everything and report what arrives")
    commands.add_parser("selftest", help="check the audio analysis on generated tones")
    return parser.parse_args()


def main() -> int:
    global label
    args = parse_args()
    label = getattr(args, "name", None) or args.command
    # stdout carries only the JSON lines; the SDK's own logging goes to stderr.
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format=f"{label}: %(name)s %(levelname)s %(message)s")
    if args.command == "selftest":
        return selftest()
    return asyncio.run(run(args))


if __name__ == "__main__":
    sys.exit(main())
