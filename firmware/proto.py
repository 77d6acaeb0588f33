# Link protocol constants (ARCHITECTURE section 6). Mirrors protocol/link.py on the host;
# tests/run.py checks these values against protocol/vectors/link_frames.json.
from micropython import const

PROTOCOL_VERSION = const(1)
MAX_PAYLOAD = const(250)
MAX_PING_PAYLOAD = const(32)
MIN_FRAME = const(4)  # type, seq, crc16
MAX_FRAME = const(254)  # type, seq, 250 payload bytes, crc16
MAX_ENCODED = const(256)  # bytes between two delimiters

# Frame types
HELLO = const(0x01)
PING = const(0x02)
SET_MODE = const(0x03)
SET_LED = const(0x04)
STATUS = const(0x10)
BUTTON = const(0x11)
MODE_CHANGED = const(0x12)
NACK = const(0x7F)
ACK = const(0x80)
HELLO_ACK = const(0x81)
PONG = const(0x82)

# Modes and who changed them
MODE_OFF = const(0)
MODE_ANC = const(1)
MODE_TRANSPARENCY = const(2)
MODE_ADAPTIVE = const(3)
MODE_NAMES = ("off", "anc", "transparency", "adaptive")
SOURCE_HOST = const(0)
SOURCE_BUTTON = const(1)
SOURCE_SAFETY = const(2)

# Button press kinds
PRESS_SHORT = const(0)
PRESS_LONG = const(1)
PRESS_DOUBLE = const(2)

# NACK reasons and ACK statuses
NACK_CRC = const(1)
NACK_UNKNOWN_TYPE = const(2)
NACK_BAD_LENGTH = const(3)
NACK_BAD_VALUE = const(4)
ACK_OK = const(0)
ACK_REFUSED = const(1)

# STATUS flags
FLAG_WORN = const(0x01)
FLAG_CHARGING = const(0x02)

# LED patterns (SET_LED values; AUTO returns the LED to the firmware's state display)
LED_AUTO = const(0)
LED_OFF = const(1)
LED_ON = const(2)
LED_SLOW_BLINK = const(3)
LED_FAST_BLINK = const(4)
LED_DOUBLE_BLINK = const(5)
LED_HEARTBEAT = const(6)
LED_LOW_BATTERY = const(7)
LED_ERROR = const(8)
LED_PATTERN_COUNT = const(9)
