// Constants of the kernel's user-space ABI that records carry as raw numbers:
// file types (st_mode & S_IFMT), address families, socket types, IP
// protocols, TCP states. The same values on every architecture
// (include/uapi/linux/stat.h, linux/socket.h, linux/in.h, net/tcp_states.h).
import { constants } from 'node:fs';

export { AF_INET, AF_INET6 } from './addr.js';

// File types, as Node has them for this platform.
export const { S_IFMT, S_IFSOCK, S_IFLNK, S_IFREG, S_IFBLK, S_IFDIR, S_IFCHR, S_IFIFO } = constants;

export const AF_UNIX = 1;
export const AF_NETLINK = 16;

export const SOCK_RAW = 3;

export const IPPROTO_ICMP = 1;
export const IPPROTO_TCP = 6;
export const IPPROTO_UDP = 17;
export const IPPROTO_ICMPV6 = 58;

export const TCP_ESTABLISHED = 1;
export const TCP_SYN_SENT = 2;
