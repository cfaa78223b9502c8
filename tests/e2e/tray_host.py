"""The desktop's side of a tray, for the tests: a StatusNotifierWatcher on the session bus (what
KDE's Plasma, GNOME's AppIndicator extension or Waybar provide) that takes the app's
StatusNotifierItem, and a reader of the item's menu as the panel sees it (com.canonical.dbusmenu):
its labels, which are enabled, and a click on one. Written from the freedesktop
StatusNotifierItem specification and libdbusmenu's interface; nothing of the app is faked."""

import threading
import time

from jeepney import DBusAddress, MessageType, new_method_call, new_method_return, new_signal
from jeepney.bus_messages import message_bus
from jeepney.io.blocking import open_dbus_connection
from jeepney.low_level import HeaderFields

WATCHER = "org.kde.StatusNotifierWatcher"
WATCHER_PATH = "/StatusNotifierWatcher"
ITEM = "org.kde.StatusNotifierItem"
MENU = "com.canonical.dbusmenu"
PROPS = "org.freedesktop.DBus.Properties"

INTROSPECTION = f"""<node>
  <interface name="{WATCHER}">
    <method name="RegisterStatusNotifierItem"><arg name="service" type="s" direction="in"/></method>
    <method name="RegisterStatusNotifierHost"><arg name="service" type="s" direction="in"/></method>
    <property name="RegisteredStatusNotifierItems" type="as" access="read"/>
    <property name="IsStatusNotifierHostRegistered" type="b" access="read"/>
    <property name="ProtocolVersion" type="i" access="read"/>
    <signal name="StatusNotifierItemRegistered"><arg type="s"/></signal>
    <signal name="StatusNotifierItemUnregistered"><arg type="s"/></signal>
    <signal name="StatusNotifierHostRegistered"/>
  </interface>
</node>"""


class TrayHost:
    """A StatusNotifierWatcher that records the items registered with it, each as (bus name,
    object path)."""

    def __init__(self):
        self.items: list[tuple[str, str]] = []
        self._stop = threading.Event()
        self._conn = open_dbus_connection(bus="SESSION")
        reply = self._conn.send_and_get_reply(message_bus.RequestName(WATCHER, 4))  # DO_NOT_QUEUE
        assert reply.body[0] == 1, f"another StatusNotifierWatcher owns {WATCHER} on this bus"
        self._thread = threading.Thread(target=self._serve, name="tray-host", daemon=True)
        self._thread.start()

    def close(self):
        self._stop.set()
        self._thread.join(timeout=5)
        self._conn.close()

    def wait_item(self, timeout: float = 30) -> tuple[str, str]:
        deadline = time.monotonic() + timeout
        while not self.items:
            assert time.monotonic() < deadline, "no StatusNotifierItem registered with the tray"
            time.sleep(0.1)
        return self.items[-1]

    def _properties(self) -> dict:
        return {
            "RegisteredStatusNotifierItems": ("as", [f"{bus}{path}" for bus, path in self.items]),
            "IsStatusNotifierHostRegistered": ("b", True),
            "ProtocolVersion": ("i", 0),
        }

    def _serve(self):
        while not self._stop.is_set():
            try:
                msg = self._conn.receive(timeout=0.2)
            except TimeoutError:
                continue
            except OSError:
                return
            if msg.header.message_type != MessageType.method_call:
                continue
            fields = msg.header.fields
            interface, member = fields.get(HeaderFields.interface), fields.get(HeaderFields.member)
            sender = fields.get(HeaderFields.sender)
            if member == "RegisterStatusNotifierItem":
                service = msg.body[0]
                # An object path on the caller's connection (libayatana-appindicator), or a bus name.
                item = (sender, service) if service.startswith("/") else (service, "/StatusNotifierItem")
                self.items.append(item)
                self._conn.send(new_method_return(msg))
                where = DBusAddress(WATCHER_PATH, interface=WATCHER)
                self._conn.send(new_signal(where, "StatusNotifierItemRegistered", "s", (service,)))
            elif member == "RegisterStatusNotifierHost":
                self._conn.send(new_method_return(msg))
            elif interface == PROPS and member == "Get":
                self._conn.send(new_method_return(msg, "v", (self._properties()[msg.body[1]],)))
            elif interface == PROPS and member == "GetAll":
                self._conn.send(new_method_return(msg, "a{sv}", (self._properties(),)))
            elif member == "Introspect":
                self._conn.send(new_method_return(msg, "s", (INTROSPECTION,)))
            else:
                self._conn.send(new_method_return(msg))


class TrayMenu:
    """An item's menu, read and clicked over D-Bus as a panel does."""

    def __init__(self, bus: str, item_path: str):
        with open_dbus_connection(bus="SESSION") as conn:
            get = new_method_call(DBusAddress(item_path, bus, PROPS), "Get", "ss", (ITEM, "Menu"))
            reply = conn.send_and_get_reply(get, timeout=10)
        assert reply.header.message_type == MessageType.method_return, reply.body
        self.address = DBusAddress(reply.body[0][1], bus, MENU)

    def items(self) -> dict[str, dict]:
        """Every item of the menu and its submenus by label (mnemonic marks removed): its id,
        whether it is enabled, and its submenu's items."""
        with open_dbus_connection(bus="SESSION") as conn:
            reply = conn.send_and_get_reply(
                new_method_call(self.address, "GetLayout", "iias", (0, -1, [])), timeout=10,
            )
        assert reply.header.message_type == MessageType.method_return, reply.body
        return _children(reply.body[1])

    def click(self, item_id: int):
        with open_dbus_connection(bus="SESSION") as conn:
            call = new_method_call(self.address, "Event", "isvu", (item_id, "clicked", ("i", 0), 0))
            reply = conn.send_and_get_reply(call, timeout=10)
        assert reply.header.message_type == MessageType.method_return, reply.body


def _children(layout) -> dict[str, dict]:
    _, _, children = layout
    found = {}
    for _, child in children:
        item_id, props, _ = child
        if props.get("type", ("s", ""))[1] == "separator":
            continue
        label = props.get("label", ("s", ""))[1].replace("_", "")
        found[label] = {
            "id": item_id,
            "enabled": props.get("enabled", ("b", True))[1],
            "items": _children(child),
        }
    return found
