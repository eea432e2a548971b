//! Where a delivery may go: `https` URLs whose host resolves only to public addresses. The
//! address is checked at creation and again at each delivery (DNS can change), and the
//! delivery connects to the address that was checked, never resolving the host again.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use emporium_core::ValidationErrors;
use url::Url;

/// The longest URL accepted.
pub const MAX_URL_LEN: usize = 2_000;

/// Why a target may not be reached.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    /// The host resolved to no address.
    #[error("the host resolves to no address")]
    Unresolved,
    /// The host resolved to an address deliveries may not reach.
    #[error("the host resolves to {0}, a loopback, private, link-local or multicast address")]
    Private(IpAddr),
}

/// The URL in `text` if a subscription may name it: absolute, `https` (or `http` when private
/// targets are allowed), with a host and no credentials, and not a literal private address.
/// Adds `unsafe_target` or `invalid` on `field` otherwise.
pub fn check_url(errors: &mut ValidationErrors, field: &str, text: &str, allow_private: bool) -> Option<Url> {
    let Ok(url) =
        Url::parse(text.trim()).map_err(|_| ()).and_then(|u| if text.len() <= MAX_URL_LEN { Ok(u) } else { Err(()) })
    else {
        errors.add(field, "invalid", "must be an absolute URL of at most 2000 characters");
        return None;
    };
    let scheme_ok = url.scheme() == "https" || (allow_private && url.scheme() == "http");
    if !scheme_ok {
        errors.add(field, "unsafe_target", "must be an https URL");
        return None;
    }
    if url.host_str().is_none_or(str::is_empty) || !url.username().is_empty() || url.password().is_some() {
        errors.add(field, "invalid", "must name a host, without credentials");
        return None;
    }
    let literal = match url.host() {
        Some(url::Host::Ipv4(ip)) => Some(IpAddr::V4(ip)),
        Some(url::Host::Ipv6(ip)) => Some(IpAddr::V6(ip)),
        _ => None,
    };
    if literal.is_some_and(|ip| !allow_private && !is_public(ip)) {
        errors.add(field, "unsafe_target", "must not be a loopback, private, link-local or multicast address");
        return None;
    }
    Some(url)
}

/// The first of a host's resolved addresses, if deliveries may reach it: every address must
/// be public (a host that also resolves to a private one is refused), unless `allow_private`.
pub fn check_address(
    addresses: impl IntoIterator<Item = SocketAddr>,
    allow_private: bool,
) -> Result<SocketAddr, TargetError> {
    let mut first = None;
    for address in addresses {
        if !allow_private && !is_public(address.ip()) {
            return Err(TargetError::Private(address.ip()));
        }
        first.get_or_insert(address);
    }
    first.ok_or(TargetError::Unresolved)
}

/// Whether `ip` is a public unicast address.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => is_public_v4(v4),
            None => is_public_v6(v6),
        },
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_multicast()
        || ip.is_broadcast()
        || ip.is_documentation()
        || a == 0
        // Shared address space (carrier-grade NAT), IETF protocol assignments and benchmarking.
        || (a == 100 && (64..128).contains(&b))
        || (a == 192 && b == 0 && ip.octets()[2] == 0)
        || (a == 198 && (18..20).contains(&b))
        || a >= 240)
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let segments = ip.segments();
    let embedded_v4 = |high: u16, low: u16| Ipv4Addr::new((high >> 8) as u8, high as u8, (low >> 8) as u8, low as u8);
    // Addresses that carry an IPv4 one reach it: NAT64 (64:ff9b::/96, 64:ff9b:1::/48), 6to4
    // (2002::/16) and the deprecated IPv4-compatible ::a.b.c.d.
    if segments[0] == 0x64 && segments[1] == 0xff9b {
        // The well-known prefix only: the local-use one (64:ff9b:1::/48) is the network's own.
        return segments[2..6].iter().all(|s| *s == 0) && is_public_v4(embedded_v4(segments[6], segments[7]));
    }
    if segments[0] == 0x2002 {
        return is_public_v4(embedded_v4(segments[1], segments[2]));
    }
    if segments[..6].iter().all(|s| *s == 0) && !ip.is_loopback() && !ip.is_unspecified() {
        return is_public_v4(embedded_v4(segments[6], segments[7]));
    }
    // Only global unicast (2000::/3) is public; within it, Teredo (2001::/32), documentation
    // (2001:db8::/32) and benchmarking (2001:2::/48) are not.
    (segments[0] & 0xe000) == 0x2000
        && !(segments[0] == 0x2001 && (segments[1] == 0 || segments[1] == 0x0db8 || segments[1] == 2))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(text: &str, allow_private: bool) -> Result<Url, Vec<String>> {
        let mut errors = ValidationErrors::new();
        let url = check_url(&mut errors, "url", text, allow_private);
        url.ok_or_else(|| errors.errors().iter().map(|e| e.code.to_owned()).collect())
    }

    #[test]
    fn only_https_urls_to_public_hosts_are_taken() {
        assert!(url("https://hooks.example.com/emporium", false).is_ok());
        assert!(url("https://[2606:4700::1111]/", false).is_ok(), "global unicast IPv6");
        assert!(url("https://[64:ff9b::808:808]/", false).is_ok(), "NAT64 of a public IPv4");
        assert_eq!(url("http://hooks.example.com/", false), Err(vec!["unsafe_target".to_owned()]));
        assert!(url("http://127.0.0.1:9000/", true).is_ok());
        for refused in [
            "https://127.0.0.1/",
            "https://10.1.2.3/",
            "https://[::1]/",
            "https://169.254.169.254/",
            "https://[::ffff:192.168.0.1]/",
            "https://[64:ff9b::a00:1]/",
            "https://[64:ff9b:1::808:808]/",
            "https://[2002:a00:1::1]/",
            "https://[::a00:1]/",
            "https://[2001::1]/",
            "https://[fec0::1]/",
            "https://[fd00::1]/",
            "https://192.0.0.8/",
        ] {
            assert_eq!(url(refused, false), Err(vec!["unsafe_target".to_owned()]), "{refused}");
        }
        assert_eq!(url("https://user:pw@example.com/", false), Err(vec!["invalid".to_owned()]));
        assert_eq!(url("not a url", false), Err(vec!["invalid".to_owned()]));
    }

    #[test]
    fn a_host_resolving_to_any_private_address_is_refused() {
        let public: SocketAddr = "93.184.216.34:443".parse().unwrap_or_else(|_| unreachable!());
        let private: SocketAddr = "192.168.1.10:443".parse().unwrap_or_else(|_| unreachable!());
        let mapped: SocketAddr = "[::ffff:127.0.0.1]:443".parse().unwrap_or_else(|_| unreachable!());
        assert_eq!(check_address([public], false), Ok(public));
        assert_eq!(check_address([public, private], false), Err(TargetError::Private(private.ip())));
        assert_eq!(check_address([mapped], false), Err(TargetError::Private(mapped.ip())));
        assert_eq!(check_address([private], true), Ok(private));
        assert_eq!(check_address([], false), Err(TargetError::Unresolved));
    }
}
