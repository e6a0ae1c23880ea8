//! GeoIP enrichment: `@network.client.geoip.*` from MaxMind-format
//! databases (a City database and an ASN database, either optional),
//! for every event with a public `@network.client.ip`, whatever its
//! source.
//!
//! The fields set are listed, as a table, in `docs/sources.md`.
//!
//! Addresses that are not public (private, loopback, link-local,
//! unspecified, multicast, unique-local) or not addresses at all are left
//! alone, as are events that already carry a geolocated country. Opening
//! the databases is the only IO.

use std::net::IpAddr;
use std::path::Path;

use evident_model::Event;
use maxminddb::{Reader, geoip2};
use serde_json::{Map, Value};

use crate::fields::ip_address;

/// Why a database could not be opened.
#[derive(Debug, thiserror::Error)]
#[error("opening the GeoIP database {path}: {message}")]
pub struct GeoIpError {
    pub path: String,
    pub message: String,
}

/// The databases to look addresses up in.
pub struct GeoIp {
    city: Option<Reader<Vec<u8>>>,
    asn: Option<Reader<Vec<u8>>>,
}

impl std::fmt::Debug for GeoIp {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("GeoIp")
            .field(
                "city",
                &self
                    .city
                    .as_ref()
                    .map(|reader| &reader.metadata().database_type),
            )
            .field(
                "asn",
                &self
                    .asn
                    .as_ref()
                    .map(|reader| &reader.metadata().database_type),
            )
            .finish()
    }
}

fn open(path: &Path) -> Result<Reader<Vec<u8>>, GeoIpError> {
    Reader::open_readfile(path).map_err(|error| GeoIpError {
        path: path.display().to_string(),
        message: error.to_string(),
    })
}

impl GeoIp {
    /// Opens whichever databases are given; `None` when neither is.
    pub fn open(city: Option<&Path>, asn: Option<&Path>) -> Result<Option<GeoIp>, GeoIpError> {
        if city.is_none() && asn.is_none() {
            return Ok(None);
        }
        Ok(Some(GeoIp {
            city: city.map(open).transpose()?,
            asn: asn.map(open).transpose()?,
        }))
    }

    /// Adds `@network.client.geoip` to `event` when its client address is
    /// public and found in a database.
    pub fn enrich(&self, event: &mut Event) {
        let Some(address) = client_ip(event) else {
            return;
        };
        if !is_public(address) {
            return;
        }
        let mut found = Map::new();
        self.city_fields(address, &mut found);
        self.asn_fields(address, &mut found);
        if found.is_empty() {
            return;
        }
        found.insert("ipAddress".into(), address.to_string().into());
        let Some(Value::Object(network)) = event.attributes.get_mut("network") else {
            return;
        };
        let Some(Value::Object(client)) = network.get_mut("client") else {
            return;
        };
        match client.get_mut("geoip") {
            Some(Value::Object(existing)) => {
                if existing.contains_key("country") {
                    return;
                }
                for (key, value) in found {
                    existing.entry(key).or_insert(value);
                }
            }
            _ => {
                client.insert("geoip".into(), Value::Object(found));
            }
        }
    }

    fn city_fields(&self, address: IpAddr, found: &mut Map<String, Value>) {
        let Some(reader) = &self.city else {
            return;
        };
        let Ok(Some(city)) = reader
            .lookup(address)
            .and_then(|result| result.decode::<geoip2::City>())
        else {
            return;
        };
        let mut set = |path: &str, value: Option<Value>| {
            if let Some(value) = value {
                set_path(found, path, value);
            }
        };
        let text = |text: Option<&str>| text.map(|text| Value::String(text.to_string()));
        set("country.name", text(city.country.names.english));
        set("country.iso_code", text(city.country.iso_code));
        set("continent.name", text(city.continent.names.english));
        set("continent.code", text(city.continent.code));
        if let Some(subdivision) = city.subdivisions.first() {
            set("subdivision.name", text(subdivision.names.english));
            set("subdivision.iso_code", text(subdivision.iso_code));
        }
        set("city.name", text(city.city.names.english));
        set("timezone", text(city.location.time_zone));
        set("location.latitude", city.location.latitude.map(Value::from));
        set(
            "location.longitude",
            city.location.longitude.map(Value::from),
        );
    }

    fn asn_fields(&self, address: IpAddr, found: &mut Map<String, Value>) {
        let Some(reader) = &self.asn else {
            return;
        };
        let Ok(result) = reader.lookup(address) else {
            return;
        };
        let Ok(Some(asn)) = result.decode::<geoip2::Asn>() else {
            return;
        };
        if let Some(number) = asn.autonomous_system_number {
            set_path(found, "as.number", number.to_string().into());
        }
        if let Some(name) = asn.autonomous_system_organization {
            set_path(found, "as.name", name.into());
        }
        if let Ok(network) = result.network() {
            set_path(found, "as.route", network.to_string().into());
        }
    }
}

fn client_ip(event: &Event) -> Option<IpAddr> {
    let text = event
        .attributes
        .get("network")?
        .get("client")?
        .get("ip")?
        .as_str()?;
    ip_address(text)
}

/// Whether `address` is on the public internet.
pub fn is_public(address: IpAddr) -> bool {
    match address {
        IpAddr::V4(v4) => {
            !(v4.is_private()
                || v4.is_loopback()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                // 100.64.0.0/10, carrier-grade NAT
                || (v4.octets()[0] == 100 && (v4.octets()[1] & 0xc0) == 64))
        }
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => is_public(IpAddr::V4(v4)),
            None => {
                !(v6.is_loopback()
                    || v6.is_unspecified()
                    || v6.is_multicast()
                    || v6.is_unique_local()
                    || v6.is_unicast_link_local())
            }
        },
    }
}

fn set_path(object: &mut Map<String, Value>, path: &str, value: Value) {
    match path.split_once('.') {
        None => {
            object.insert(path.to_string(), value);
        }
        Some((head, rest)) => {
            let inner = object
                .entry(head.to_string())
                .or_insert_with(|| Value::Object(Map::new()));
            if let Value::Object(inner) = inner {
                set_path(inner, rest, value);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_public_addresses_are_looked_up() {
        for address in [
            "10.1.2.3",
            "192.168.0.1",
            "127.0.0.1",
            "169.254.1.1",
            "0.0.0.0",
            "100.64.0.1",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:10.0.0.1",
        ] {
            assert!(!is_public(address.parse().expect("address")), "{address}");
        }
        for address in [
            "81.2.69.142",
            "8.8.8.8",
            "2001:218::1",
            "::ffff:81.2.69.142",
        ] {
            assert!(is_public(address.parse().expect("address")), "{address}");
        }
    }
}
