"""The MPRIS D-Bus interfaces of `coach play`, with dbus-fast; runs on the bus thread only.

coach/play/remote.py starts this on a thread of its own and is the only caller: method calls
become commands on its queue, properties are read from its latest snapshot (`keys.state`),
and `Player.changed` is called on this thread's loop when the play loop saw a change.

The spec: https://specifications.freedesktop.org/mpris-spec/latest/ . A step of the routine is
a track: its title is the step's, the album the routine's, the artist "coach". coach cannot
play a URI, has no track list and no volume of its own, and its controls are the keys' (no
seeking), and says so in its Can* properties.
"""

import asyncio
import contextlib
import logging
import os
import time
from typing import Annotated, Any

from dbus_fast import DBusError, NameFlag, RequestNameReply, Variant
from dbus_fast.aio import MessageBus
from dbus_fast.annotations import (
    DBusBool,
    DBusDouble,
    DBusInt64,
    DBusObjectPath,
    DBusSignature,
    DBusStr,
)
from dbus_fast.constants import PropertyAccess
from dbus_fast.service import ServiceInterface, dbus_method, dbus_property, dbus_signal

from coach.play.remote import BUS_NAME, MediaKeys, PlayerState

OBJECT_PATH = "/org/mpris/MediaPlayer2"
NO_TRACK = "/org/mpris/MediaPlayer2/TrackList/NoTrack"
CONNECT_TIMEOUT_S = 3.0

DBusStrings = Annotated[list[str], DBusSignature("as")]
DBusMetadata = Annotated[dict[str, Variant], DBusSignature("a{sv}")]

# dbus-fast and asyncio log what goes wrong on a dropped connection; with no logging set up,
# Python would print those records on stderr, under the live view. What matters is said once,
# by remote.py, for --verbose.
for _name in ("dbus_fast", "asyncio"):
    logging.getLogger(_name).addHandler(logging.NullHandler())
    logging.getLogger(_name).propagate = False


def text(value: str) -> str:
    """A D-Bus string: valid UTF-8 without NUL, or the bus drops the connection."""
    return value.encode("utf-8", "replace").decode("utf-8").replace("\0", "")


def metadata(state: PlayerState | None) -> dict[str, Variant]:
    if state is None:
        return {"mpris:trackid": Variant("o", NO_TRACK)}
    return {
        "mpris:trackid": Variant("o", state.track_id),
        "mpris:length": Variant("x", state.length_ms * 1000),
        "xesam:title": Variant("s", text(state.title)),
        "xesam:album": Variant("s", text(state.routine)),
        "xesam:artist": Variant("as", ["coach"]),
        "xesam:trackNumber": Variant("i", state.step),
    }


class Root(ServiceInterface):
    """org.mpris.MediaPlayer2: who this player is."""

    def __init__(self, keys: MediaKeys) -> None:
        super().__init__("org.mpris.MediaPlayer2")
        self.keys = keys

    @dbus_method()
    def Raise(self) -> None:  # CanRaise is false: there is no window to raise
        pass

    @dbus_method()
    def Quit(self) -> None:
        self.keys.command("Quit")

    @dbus_property(access=PropertyAccess.READ)
    def CanQuit(self) -> DBusBool:
        return True

    @dbus_property(access=PropertyAccess.READ)
    def CanRaise(self) -> DBusBool:
        return False

    @dbus_property(access=PropertyAccess.READ)
    def HasTrackList(self) -> DBusBool:
        return False

    @dbus_property(access=PropertyAccess.READ)
    def Identity(self) -> DBusStr:
        return "coach"

    @dbus_property(access=PropertyAccess.READ)
    def SupportedUriSchemes(self) -> DBusStrings:
        return []

    @dbus_property(access=PropertyAccess.READ)
    def SupportedMimeTypes(self) -> DBusStrings:
        return []


class Player(ServiceInterface):
    """org.mpris.MediaPlayer2.Player: the controls, and what is playing."""

    def __init__(self, keys: MediaKeys) -> None:
        super().__init__("org.mpris.MediaPlayer2.Player")
        self.keys = keys

    def _state(self) -> PlayerState | None:
        return self.keys.state

    # -- methods: each is a key of `coach play`, done by the play loop ----------------------

    @dbus_method()
    def Next(self) -> None:
        self.keys.command("Next")

    @dbus_method()
    def Previous(self) -> None:
        self.keys.command("Previous")

    @dbus_method()
    def Pause(self) -> None:
        self.keys.command("Pause")

    @dbus_method()
    def PlayPause(self) -> None:
        self.keys.command("PlayPause")

    @dbus_method()
    def Stop(self) -> None:
        self.keys.command("Stop")

    @dbus_method()
    def Play(self) -> None:
        self.keys.command("Play")

    @dbus_method()
    def Seek(self, Offset: DBusInt64) -> None:  # the spec names the arguments
        pass  # CanSeek is false: the spec says this then does nothing

    @dbus_method()
    def SetPosition(self, TrackId: DBusObjectPath, Position: DBusInt64) -> None:
        pass  # CanSeek is false, as for Seek

    @dbus_method()
    def OpenUri(self, Uri: DBusStr) -> None:
        raise DBusError("org.freedesktop.DBus.Error.NotSupported", "coach plays routines, not URIs")

    @dbus_signal()
    def Seeked(self, position_us: int) -> DBusInt64:
        return position_us

    # -- properties -------------------------------------------------------------------------

    @dbus_property(access=PropertyAccess.READ)
    def PlaybackStatus(self) -> DBusStr:
        state = self._state()
        return "Stopped" if state is None else state.status

    @dbus_property(access=PropertyAccess.READ)
    def Rate(self) -> DBusDouble:
        return 1.0  # pace is coach's own (+ and -): it changes the session, not the speed

    @dbus_property(access=PropertyAccess.READ)
    def MinimumRate(self) -> DBusDouble:
        return 1.0

    @dbus_property(access=PropertyAccess.READ)
    def MaximumRate(self) -> DBusDouble:
        return 1.0

    @dbus_property(access=PropertyAccess.READ)
    def Metadata(self) -> DBusMetadata:
        return metadata(self._state())

    @dbus_property(access=PropertyAccess.READ)
    def Volume(self) -> DBusDouble:
        return 1.0  # the system's volume is the one to change

    @dbus_property(access=PropertyAccess.READ)
    def Position(self) -> DBusInt64:
        state = self._state()
        return 0 if state is None else state.position_now_ms(time.monotonic()) * 1000

    @dbus_property(access=PropertyAccess.READ)
    def CanGoNext(self) -> DBusBool:
        state = self._state()
        return state is not None and state.can_go_next

    @dbus_property(access=PropertyAccess.READ)
    def CanGoPrevious(self) -> DBusBool:
        return self._state() is not None  # back to the start of the step, or the one before

    @dbus_property(access=PropertyAccess.READ)
    def CanPlay(self) -> DBusBool:
        return self._state() is not None

    @dbus_property(access=PropertyAccess.READ)
    def CanPause(self) -> DBusBool:
        return self._state() is not None

    @dbus_property(access=PropertyAccess.READ)
    def CanSeek(self) -> DBusBool:
        return False

    @dbus_property(access=PropertyAccess.READ)
    def CanControl(self) -> DBusBool:
        return True

    # -- from the play loop -----------------------------------------------------------------

    def changed(self, old: PlayerState | None, new: PlayerState, jumped: bool) -> None:
        """Signal what changed since `old` (None: only the position jumped)."""
        if old is not None:
            props: dict[str, Any] = {}
            if old.status != new.status:
                props["PlaybackStatus"] = new.status
            if (old.step, old.title, old.routine, old.length_ms) != (
                new.step,
                new.title,
                new.routine,
                new.length_ms,
            ):
                props["Metadata"] = metadata(new)
            if old.can_go_next != new.can_go_next:
                props["CanGoNext"] = new.can_go_next
            if props:
                self.emit_properties_changed(props)
        if jumped:
            self.Seeked(new.position_ms * 1000)


async def _publish(bus: MessageBus) -> str:
    """Take coach's name, or an instance name when another coach holds it."""
    for name in (BUS_NAME, f"{BUS_NAME}.instance{os.getpid()}"):
        reply = await bus.request_name(name, NameFlag.DO_NOT_QUEUE)
        if reply in (RequestNameReply.PRIMARY_OWNER, RequestNameReply.ALREADY_OWNER):
            return name
    raise RuntimeError(f"both {BUS_NAME} and its instance name are taken")


async def serve(keys: MediaKeys, address: str) -> None:
    """Publish coach at `address` until `keys.close()` or until the bus goes away."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    try:
        bus = await asyncio.wait_for(MessageBus(bus_address=address).connect(), CONNECT_TIMEOUT_S)
    except Exception as e:  # any way of not reaching the bus is only that
        keys.say(f"media keys: cannot connect to the session bus at {address} ({_why(e)})")
        return
    try:
        root, player = Root(keys), Player(keys)
        bus.export(OBJECT_PATH, root)
        bus.export(OBJECT_PATH, player)
        # The name last: a client that sees it can call at once.
        keys.attach(loop, player, stop)
        # The name only once there is something to show: a player that answers "Stopped"
        # while the session starts would tell a media widget it is over.
        while keys.state is None and not stop.is_set():
            await asyncio.sleep(0.02)
        if stop.is_set():
            return
        name = await asyncio.wait_for(_publish(bus), CONNECT_TIMEOUT_S)
        keys.name = name
        keys.say(f"media keys: on the session bus as {name} (playerctl -p {name[23:]})")
        gone = asyncio.ensure_future(bus.wait_for_disconnect())
        stopping = asyncio.ensure_future(stop.wait())
        await asyncio.wait({gone, stopping}, return_when=asyncio.FIRST_COMPLETED)
        if gone.done():
            with contextlib.suppress(Exception):
                gone.result()
            keys.say("media keys: the session bus went away; playback goes on without them")
        stopping.cancel()
    finally:
        with contextlib.suppress(Exception):
            bus.disconnect()
            await asyncio.wait_for(bus.wait_for_disconnect(), 1.0)


def _why(e: BaseException) -> str:
    if isinstance(e, asyncio.TimeoutError):
        return f"no answer within {CONNECT_TIMEOUT_S:g} s"
    if isinstance(e, OSError) and e.strerror:
        return e.strerror
    return str(e) or type(e).__name__


def probe(address: str) -> tuple[bool, str, tuple[str, ...]]:
    """For `coach doctor`: whether the bus at `address` answers, why not, and the MPRIS
    players on it now."""

    async def ask() -> tuple[str, ...]:
        bus = await asyncio.wait_for(MessageBus(bus_address=address).connect(), CONNECT_TIMEOUT_S)
        try:
            from dbus_fast import Message

            reply = await asyncio.wait_for(
                bus.call(
                    Message(
                        destination="org.freedesktop.DBus",
                        path="/org/freedesktop/DBus",
                        interface="org.freedesktop.DBus",
                        member="ListNames",
                    )
                ),
                CONNECT_TIMEOUT_S,
            )
            names = reply.body[0] if reply is not None and reply.body else []
            return tuple(sorted(n for n in names if n.startswith("org.mpris.MediaPlayer2.")))
        finally:
            bus.disconnect()

    try:
        return True, "", asyncio.run(ask())
    except Exception as e:
        return False, _why(e), ()
