"""Byte layouts of the pcap and pcapng formats: constants and header packing.

Shared by the capture process (which writes a pcap stream in its hot loop)
and the file reader/writers. Kept free of I/O so both can use it.
"""

from __future__ import annotations

import struct

# Link-layer header types (https://www.tcpdump.org/linktypes.html).
LINKTYPE_NULL = 0          # BSD loopback, 4-byte family in host order
LINKTYPE_ETHERNET = 1
LINKTYPE_FDDI = 10          # FDDI, then IEEE 802.2 LLC
LINKTYPE_RAW = 101         # raw IPv4 or IPv6
LINKTYPE_LOOP = 108        # OpenBSD loopback, family in network order
LINKTYPE_LINUX_SLL = 113
LINKTYPE_IPV4 = 228
LINKTYPE_IPV6 = 229
LINKTYPE_LINUX_SLL2 = 276

# The link types visualizer.core.decode.headers decodes, by the names the views show.
LINKTYPE_NAMES = {
    LINKTYPE_NULL: "BSD loopback",
    LINKTYPE_ETHERNET: "Ethernet",
    LINKTYPE_FDDI: "FDDI",
    LINKTYPE_RAW: "raw IP",
    LINKTYPE_LOOP: "OpenBSD loopback",
    LINKTYPE_LINUX_SLL: "Linux cooked (SLL)",
    LINKTYPE_IPV4: "raw IPv4",
    LINKTYPE_IPV6: "raw IPv6",
    LINKTYPE_LINUX_SLL2: "Linux cooked v2 (SLL2)",
}

# Every registered link type by its tcpdump name (without "LINKTYPE_"), so
# that a capture we cannot decode is named as tcpdump and Wireshark name it.
_REGISTERED = {
    0: "NULL", 1: "ETHERNET", 2: "EXP_ETHERNET", 3: "AX25", 4: "PRONET", 5: "CHAOS",
    6: "IEEE802_5", 7: "ARCNET_BSD", 8: "SLIP", 9: "PPP", 10: "FDDI", 50: "PPP_HDLC",
    51: "PPP_ETHER", 99: "SYMANTEC_FIREWALL", 100: "ATM_RFC1483", 101: "RAW",
    102: "SLIP_BSDOS", 103: "PPP_BSDOS", 104: "C_HDLC", 105: "IEEE802_11", 106: "ATM_CLIP",
    107: "FRELAY", 108: "LOOP", 109: "ENC", 110: "LANE8023", 111: "HIPPI", 112: "HDLC",
    113: "LINUX_SLL", 114: "LTALK", 115: "ECONET", 116: "IPFILTER", 117: "PFLOG",
    118: "CISCO_IOS", 119: "IEEE802_11_PRISM", 120: "IEEE802_11_AIRONET", 121: "HHDLC",
    122: "IP_OVER_FC", 123: "SUNATM", 124: "RIO", 125: "PCI_EXP", 126: "AURORA",
    127: "IEEE802_11_RADIOTAP", 128: "TZSP", 129: "ARCNET_LINUX", 130: "JUNIPER_MLPPP",
    131: "JUNIPER_MLFR", 132: "JUNIPER_ES", 133: "JUNIPER_GGSN", 134: "JUNIPER_MFR",
    135: "JUNIPER_ATM2", 136: "JUNIPER_SERVICES", 137: "JUNIPER_ATM1",
    138: "APPLE_IP_OVER_IEEE1394", 139: "MTP2_WITH_PHDR", 140: "MTP2", 141: "MTP3",
    142: "SCCP", 143: "DOCSIS", 144: "LINUX_IRDA", 145: "IBM_SP", 146: "IBM_SN",
    **{147 + n: f"USER{n}" for n in range(16)},
    163: "IEEE802_11_AVS", 164: "JUNIPER_MONITOR", 165: "BACNET_MS_TP", 166: "PPP_PPPD",
    167: "JUNIPER_PPPOE", 168: "JUNIPER_PPPOE_ATM", 169: "GPRS_LLC", 170: "GPF_T",
    171: "GPF_F", 172: "GCOM_T1E1", 173: "GCOM_SERIAL", 174: "JUNIPER_PIC_PEER",
    175: "ERF_ETH", 176: "ERF_POS", 177: "LINUX_LAPD", 178: "JUNIPER_ETHER",
    179: "JUNIPER_PPP", 180: "JUNIPER_FRELAY", 181: "JUNIPER_CHDLC", 182: "MFR",
    183: "JUNIPER_VP", 184: "A429", 185: "A653_ICM", 186: "USB_FREEBSD",
    187: "BLUETOOTH_HCI_H4", 188: "IEEE802_16_MAC_CPS", 189: "USB_LINUX", 190: "CAN20B",
    191: "IEEE802_15_4_LINUX", 192: "PPI", 193: "IEEE802_16_MAC_CPS_RADIO",
    194: "JUNIPER_ISM", 195: "IEEE802_15_4_WITHFCS", 196: "SITA", 197: "ERF", 198: "RAIF1",
    199: "IPMB_KONTRON", 200: "JUNIPER_ST", 201: "BLUETOOTH_HCI_H4_WITH_PHDR",
    202: "AX25_KISS", 203: "LAPD", 204: "PPP_WITH_DIR", 205: "C_HDLC_WITH_DIR",
    206: "FRELAY_WITH_DIR", 207: "LAPB_WITH_DIR", 209: "IPMB_LINUX", 210: "FLEXRAY",
    211: "MOST", 212: "LIN", 213: "X2E_SERIAL", 214: "X2E_XORAYA",
    215: "IEEE802_15_4_NONASK_PHY", 216: "LINUX_EVDEV", 217: "GSMTAP_UM",
    218: "GSMTAP_ABIS", 219: "MPLS", 220: "USB_LINUX_MMAPPED", 221: "DECT", 222: "AOS",
    223: "WIHART", 224: "FC_2", 225: "FC_2_WITH_FRAME_DELIMS", 226: "IPNET",
    227: "CAN_SOCKETCAN", 228: "IPV4", 229: "IPV6", 230: "IEEE802_15_4_NOFCS", 231: "DBUS",
    232: "JUNIPER_VS", 233: "JUNIPER_SRX_E2E", 234: "JUNIPER_FIBRECHANNEL", 235: "DVB_CI",
    236: "MUX27010", 237: "STANAG_5066_D_PDU", 238: "JUNIPER_ATM_CEMIC", 239: "NFLOG",
    240: "NETANALYZER", 241: "NETANALYZER_TRANSPARENT", 242: "IPOIB", 243: "MPEG_2_TS",
    244: "NG40", 245: "NFC_LLCP", 246: "PFSYNC", 247: "INFINIBAND", 248: "SCTP",
    249: "USBPCAP", 250: "RTAC_SERIAL", 251: "BLUETOOTH_LE_LL", 252: "WIRESHARK_UPPER_PDU",
    253: "NETLINK", 254: "BLUETOOTH_LINUX_MONITOR", 255: "BLUETOOTH_BREDR_BB",
    256: "BLUETOOTH_LE_LL_WITH_PHDR", 257: "PROFIBUS_DL", 258: "PKTAP", 259: "EPON",
    260: "IPMI_HPM_2", 261: "ZWAVE_R1_R2", 262: "ZWAVE_R3", 263: "WATTSTOPPER_DLM",
    264: "ISO_14443", 265: "RDS", 266: "USB_DARWIN", 267: "OPENFLOW", 268: "SDLC",
    269: "TI_LLN_SNIFFER", 270: "LORATAP", 271: "VSOCK", 272: "NORDIC_BLE",
    273: "DOCSIS31_XRA31", 274: "ETHERNET_MPACKET", 275: "DISPLAYPORT_AUX",
    276: "LINUX_SLL2", 277: "SERCOS_MONITOR", 278: "OPENVIZSLA", 279: "EBHSCR",
    280: "VPP_DISPATCH", 281: "DSA_TAG_BRCM", 282: "DSA_TAG_BRCM_PREPEND",
    283: "IEEE802_15_4_TAP", 284: "DSA_TAG_DSA", 285: "DSA_TAG_EDSA", 286: "ELEE",
    287: "Z_WAVE_SERIAL", 288: "USB_2_0", 289: "ATSC_ALP", 290: "ETW",
}


def linktype_text(linktype: int) -> str:
    """``"LINKTYPE_USER0 (147)"``, ``"9999 (unregistered)"``: a link type as a user
    can look it up in tcpdump's list."""
    name = _REGISTERED.get(linktype)
    return f"LINKTYPE_{name} ({linktype})" if name else f"{linktype} (unregistered)"


def is_decoded(linktype: int) -> bool:
    """True for the link types ``visualizer.core.decode.headers`` decodes (LINKTYPE_NAMES)."""
    return linktype in LINKTYPE_NAMES


# Classic pcap magic numbers as read with native ("<") byte order.
PCAP_MAGIC_USEC = 0xA1B2C3D4
PCAP_MAGIC_NSEC = 0xA1B23C4D
PCAP_SNAPLEN = 262144

_PCAP_FILE_HEADER = struct.Struct("<IHHiIII")
PCAP_RECORD_HEADER = struct.Struct("<IIII")
PCAP_FILE_HEADER_LEN = _PCAP_FILE_HEADER.size
PCAP_RECORD_HEADER_LEN = PCAP_RECORD_HEADER.size

# pcapng block types.
PCAPNG_SHB = 0x0A0D0D0A
PCAPNG_IDB = 0x00000001
PCAPNG_OPB = 0x00000002  # obsolete packet block
PCAPNG_SPB = 0x00000003
PCAPNG_NRB = 0x00000004
PCAPNG_ISB = 0x00000005
PCAPNG_EPB = 0x00000006
PCAPNG_CUSTOM_COPY = 0x00000BAD
PCAPNG_CUSTOM_NOCOPY = 0x40000BAD
PCAPNG_BYTE_ORDER_MAGIC = 0x1A2B3C4D

# pcapng option codes used here.
OPT_ENDOFOPT = 0
OPT_COMMENT = 1
SHB_HARDWARE = 2
SHB_OS = 3
SHB_USERAPPL = 4
OPT_CUSTOM_BINARY_NOCOPY = 19373  # PEN + binary, "should not be copied"
IF_NAME = 2
IF_TSRESOL = 9
IF_FILTER = 11

# Private Enterprise Number written in our custom options. 32473 is the PEN
# IANA reserves for documentation and examples (RFC 5612); readers that do
# not know it skip the option, which is what we want from Wireshark.
VISUALIZER_PEN = 32473
VISUALIZER_BLOCK_MAGIC = b"PKTVIS1\0"


def pcap_file_header(linktype: int, *, nanosecond: bool = True,
                     snaplen: int = PCAP_SNAPLEN) -> bytes:
    """The 24-byte global header of a little-endian classic pcap file."""
    magic = PCAP_MAGIC_NSEC if nanosecond else PCAP_MAGIC_USEC
    return _PCAP_FILE_HEADER.pack(magic, 2, 4, 0, 0, snaplen, linktype)


def pcap_record_header(ts_ns: int, caplen: int, origlen: int, *,
                       nanosecond: bool = True) -> bytes:
    """The 16-byte per-record header for a frame stamped ``ts_ns`` (Unix ns)."""
    sec, frac = divmod(ts_ns, 1_000_000_000)
    if not nanosecond:
        frac //= 1000
    return PCAP_RECORD_HEADER.pack(sec, frac, caplen, origlen)


def pad4(n: int) -> int:
    """``n`` rounded up to a multiple of four (pcapng alignment)."""
    return (n + 3) & ~3


def pcapng_option(code: int, value: bytes) -> bytes:
    """One little-endian pcapng option (code, length, value, padding)."""
    return struct.pack("<HH", code, len(value)) + value + b"\0" * (pad4(len(value)) - len(value))


def pcapng_block(block_type: int, body: bytes) -> bytes:
    """A little-endian pcapng block around ``body`` (which is padded here)."""
    body = body + b"\0" * (pad4(len(body)) - len(body))
    total = 12 + len(body)
    return struct.pack("<II", block_type, total) + body + struct.pack("<I", total)
