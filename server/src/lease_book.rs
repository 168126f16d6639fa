//! The DHCP server's lease questions answered by the lab's leases: the glue between
//! `netboot`'s protocol and `lab`'s address policy.

use std::net::Ipv4Addr;

use lab::leases::{AddressPlan, LeaseAddress};
use lab::Lab;
use netboot::dhcp::{LeaseBook, LeaseError, LeaseFuture};

/// The lab's leases of one address family (IPv4 for DHCPv4, IPv6 for DHCPv6).
pub struct LabLeases<A = Ipv4Addr> {
    pub lab: Lab,
    pub plan: AddressPlan<A>,
}

fn store(e: lab::Error) -> LeaseError {
    LeaseError(e.to_string())
}

impl<A: LeaseAddress> LeaseBook<A> for LabLeases<A> {
    fn offer<'a>(&'a self, mac: &'a str, requested: Option<A>) -> LeaseFuture<'a, Option<A>> {
        Box::pin(async move {
            let leased = self.lab.offer_lease(&self.plan, mac, requested).await;
            Ok(leased.map_err(store)?.map(|lease| lease.address))
        })
    }

    fn propose<'a>(&'a self, mac: &'a str, requested: Option<A>) -> LeaseFuture<'a, Option<A>> {
        Box::pin(async move {
            let proposed = self.lab.propose_lease(&self.plan, mac, requested).await;
            proposed.map_err(store)
        })
    }

    fn bind<'a>(&'a self, mac: &'a str, address: A) -> LeaseFuture<'a, bool> {
        Box::pin(async move {
            let bound = self.lab.bind_lease(&self.plan, mac, address).await;
            Ok(bound.map_err(store)?.is_some())
        })
    }

    fn release<'a>(&'a self, mac: &'a str, address: Option<A>) -> LeaseFuture<'a, ()> {
        Box::pin(async move {
            self.lab.release_lease(mac, address).await.map_err(store)?;
            Ok(())
        })
    }

    fn decline<'a>(&'a self, mac: &'a str, address: A) -> LeaseFuture<'a, ()> {
        Box::pin(async move {
            self.lab.decline_lease(mac, address).await.map_err(store)?;
            Ok(())
        })
    }
}
