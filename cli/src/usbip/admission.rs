//! Which connections may start their operation phase: at most [`MAX_HANDSHAKES`]
//! in flight in all and [`MAX_PER_PEER`] of them from one IP address, so one
//! peer holding quiet connections (each for up to the operation time-out)
//! takes its share, not every place: a client from another address still lists
//! and imports the device.
//!
//! A peer is an IP address as the server sees it. On loopback, where
//! `usbip-serve` listens, each address of 127/8 is a peer of its own: a local
//! process may pick any of them, so this bound only separates clients that keep
//! to their own address (the total bound holds whatever they do); a port
//! forwarder (ssh, socat, QEMU's user network) brings all its clients from one
//! address, so they share one peer's places.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

/// Connections in their operation phase at once, at most (each on a thread of
/// its own for up to the operation time-out). `usbip` and the kernel's client
/// open one at a time; a connection over this is closed at once.
pub(crate) const MAX_HANDSHAKES: usize = 8;
/// Connections in their operation phase at once from one IP address, at most
/// (a client lists, then imports: one at a time); one more from that address
/// is closed at once.
pub(crate) const MAX_PER_PEER: usize = 2;

/// Why a connection may not start its operation phase now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refused {
    /// [`MAX_HANDSHAKES`] are in flight.
    Full,
    /// [`MAX_PER_PEER`] are in flight from this address.
    PeerFull(IpAddr),
}

/// The handshakes in flight: in all and by peer.
#[derive(Debug, Default)]
struct Counts {
    /// In flight in all.
    total: usize,
    /// In flight by peer; a peer with none has no entry, so there are at most
    /// [`MAX_HANDSHAKES`] entries.
    by_peer: HashMap<IpAddr, usize>,
}

/// The count of handshakes in flight, shared by the accepting thread (which
/// admits) and the handshake threads (whose [`Place`]s give theirs back).
#[derive(Debug, Clone, Default)]
pub(crate) struct Admission(Arc<Mutex<Counts>>);

impl Admission {
    /// A place for a handshake from `peer`, if it is under both bounds.
    pub(crate) fn admit(&self, peer: IpAddr) -> Result<Place, Refused> {
        let mut counts = self.counts();
        if counts.total >= MAX_HANDSHAKES {
            return Err(Refused::Full);
        }
        let from_peer = counts.by_peer.entry(peer).or_default();
        if *from_peer >= MAX_PER_PEER {
            return Err(Refused::PeerFull(peer));
        }
        *from_peer += 1;
        counts.total += 1;
        Ok(Place {
            admission: self.clone(),
            peer,
        })
    }

    /// The counts, also if a thread panicked holding them (they are changed
    /// by whole steps only).
    fn counts(&self) -> MutexGuard<'_, Counts> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// One handshake's place among those in flight, given back when dropped.
#[derive(Debug)]
pub(crate) struct Place {
    admission: Admission,
    peer: IpAddr,
}

impl Drop for Place {
    fn drop(&mut self) {
        let mut counts = self.admission.counts();
        counts.total -= 1;
        if let Some(from_peer) = counts.by_peer.get_mut(&self.peer) {
            *from_peer -= 1;
            if *from_peer == 0 {
                counts.by_peer.remove(&self.peer);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn peer(last: u8) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(127, 0, 0, last))
    }

    #[test]
    fn one_peer_gets_its_share_and_the_others_the_rest() {
        let admission = Admission::default();
        let hog: Vec<Place> = (0..MAX_PER_PEER)
            .map(|_| admission.admit(peer(2)).unwrap())
            .collect();
        assert_eq!(
            admission.admit(peer(2)).unwrap_err(),
            Refused::PeerFull(peer(2))
        );
        let mut others = Vec::new();
        for last in 3.. {
            match admission.admit(peer(last)) {
                Ok(place) => others.push(place),
                Err(refused) => {
                    assert_eq!(refused, Refused::Full);
                    break;
                }
            }
        }
        assert_eq!(hog.len() + others.len(), MAX_HANDSHAKES);
        drop(hog);
        let again: Vec<Place> = (0..MAX_PER_PEER)
            .map(|_| admission.admit(peer(2)).unwrap())
            .collect();
        assert_eq!(admission.admit(peer(1)).unwrap_err(), Refused::Full);
        drop((again, others));
        let counts = admission.counts();
        assert_eq!((counts.total, counts.by_peer.len()), (0, 0));
    }
}
