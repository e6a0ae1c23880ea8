//! IPv4 and IPv6 network blocks for `CIDR(@field, block, ...)`.

use std::net::IpAddr;

use crate::ast::CidrBlock;

/// `10.0.0.0/8`, `2001:db8::/32`; a bare address is a single-host block.
pub(crate) fn parse_block(text: &str) -> Option<CidrBlock> {
    let (address, prefix) = match text.split_once('/') {
        Some((address, prefix)) => (address, Some(prefix)),
        None => (text, None),
    };
    let address: IpAddr = address.parse().ok()?;
    let max_len = max_prefix_len(address);
    let prefix_len = match prefix {
        Some(prefix) if !prefix.is_empty() && prefix.bytes().all(|b| b.is_ascii_digit()) => {
            prefix.parse::<u8>().ok().filter(|&len| len <= max_len)?
        }
        Some(_) => return None,
        None => max_len,
    };
    Some(CidrBlock {
        address,
        prefix_len,
    })
}

fn max_prefix_len(address: IpAddr) -> u8 {
    match address {
        IpAddr::V4(_) => 32,
        IpAddr::V6(_) => 128,
    }
}

impl CidrBlock {
    /// True if `ip` is inside the block. IPv4-mapped IPv6 addresses
    /// (`::ffff:10.1.2.3`) count as their IPv4 address.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.address.to_canonical(), ip.to_canonical()) {
            (IpAddr::V4(network), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix_len))
                    .unwrap_or(0);
                u32::from(network) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(network), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix_len))
                    .unwrap_or(0);
                u128::from(network) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("test address")
    }

    #[test]
    fn membership() {
        let block = parse_block("13.0.0.0/8").expect("block");
        assert!(block.contains(ip("13.1.2.3")));
        assert!(!block.contains(ip("14.1.2.3")));
        assert!(block.contains(ip("::ffff:13.9.9.9")));
        let everything = parse_block("0.0.0.0/0").expect("block");
        assert!(everything.contains(ip("255.255.255.255")));
        let v6 = parse_block("2001:db8::/32").expect("block");
        assert!(v6.contains(ip("2001:db8:1::1")));
        assert!(!v6.contains(ip("2001:db9::1")));
        assert!(!v6.contains(ip("10.0.0.1")));
        let host = parse_block("10.1.2.3").expect("block");
        assert_eq!(host.prefix_len, 32);
        assert!(host.contains(ip("10.1.2.3")) && !host.contains(ip("10.1.2.4")));
    }

    #[test]
    fn rejects_bad_blocks() {
        for text in [
            "10.0.0.0/33",
            "10.0.0.0/",
            "10.0.0/8",
            "::/129",
            "x",
            "10.0.0.0/+8",
        ] {
            assert_eq!(parse_block(text), None, "{text}");
        }
    }
}
