// Constants of the kernel's user-space ABI that records carry as raw numbers:
// file types (st_mode & S_IFMT), address families, socket types, IP
// protocols, TCP states. The same values on every architecture
// (include/uapi/linux/stat.h, linux/socket.h, linux/in.h, net/tcp_states.h).
export { AF_INET, AF_INET6 } from './addr.js';

export const S_IFMT = 0o170000;
export const S_IFSOCK = 0o140000;
export const S_IFLNK = 0o120000;
export const S_IFREG = 0o100000;
export const S_IFBLK = 0o060000;
export const S_IFDIR = 0o040000;
export const S_IFCHR = 0o020000;
export const S_IFIFO = 0o010000;

export const AF_UNIX = 1;
export const AF_NETLINK = 16;

export const SOCK_RAW = 3;

export const IPPROTO_ICMP = 1;
export const IPPROTO_TCP = 6;
export const IPPROTO_UDP = 17;
export const IPPROTO_ICMPV6 = 58;

export const TCP_ESTABLISHED = 1;
export const TCP_SYN_SENT = 2;
