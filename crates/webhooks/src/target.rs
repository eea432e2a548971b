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
        // Shared address space (carrier-grade NAT) and benchmarking ranges.
        || (a == 100 && (64..128).contains(&b))
        || (a == 198 && (18..20).contains(&b))
        || a >= 240)
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast()
        // Unique local (fc00::/7) and link-local (fe80::/10).
        || (first & 0xfe00) == 0xfc00
        || (first & 0xffc0) == 0xfe80
        // Documentation (2001:db8::/32).
        || (first == 0x2001 && ip.segments()[1] == 0x0db8))
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
        assert_eq!(url("http://hooks.example.com/", false), Err(vec!["unsafe_target".to_owned()]));
        assert!(url("http://127.0.0.1:9000/", true).is_ok());
        for refused in [
            "https://127.0.0.1/",
            "https://10.1.2.3/",
            "https://[::1]/",
            "https://169.254.169.254/",
            "https://[::ffff:192.168.0.1]/",
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
