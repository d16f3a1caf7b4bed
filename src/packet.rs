//! The packet an XDP program gets when the user gives none.

/// A 64-byte Ethernet/IPv4/TCP frame: 02:00:00:00:00:01 -> 02:00:00:00:00:02,
/// EtherType 0x0800; IPv4 (ihl 5, total length 50, TTL 64, protocol 6 TCP,
/// 10.0.0.1 -> 10.0.0.2, checksum 0); TCP 12345 -> 80; zero padding.
///
/// ```
/// let frame = tinybpf::default_packet();
/// assert_eq!(frame.len(), 64);
/// assert_eq!(&frame[12..14], &[0x08, 0x00]);
/// assert_eq!(frame[23], 6);
/// ```
pub fn default_packet() -> Vec<u8> {
    let mut frame = vec![0u8; 64];
    frame[0..6].copy_from_slice(&[0x02, 0, 0, 0, 0, 0x02]);
    frame[6..12].copy_from_slice(&[0x02, 0, 0, 0, 0, 0x01]);
    frame[12..14].copy_from_slice(&0x0800u16.to_be_bytes());
    let ip = &mut frame[14..34];
    ip[0] = 0x45;
    ip[2..4].copy_from_slice(&50u16.to_be_bytes());
    ip[8] = 64;
    ip[9] = 6;
    ip[12..16].copy_from_slice(&[10, 0, 0, 1]);
    ip[16..20].copy_from_slice(&[10, 0, 0, 2]);
    let tcp = &mut frame[34..54];
    tcp[0..2].copy_from_slice(&12345u16.to_be_bytes());
    tcp[2..4].copy_from_slice(&80u16.to_be_bytes());
    frame
}
