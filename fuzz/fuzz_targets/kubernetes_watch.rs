//! Fuzzes what Kubernetes discovery's informer and client decode beyond
//! the objects themselves (those, in LIST pages, are the
//! `kubernetes_objects` target's): watch-stream lines
//! (`levee::discovery::kubernetes::watch::decode_line`) and kubeconfig
//! text (`kubeconfig::Kubeconfig::parse`); each object of an event is built
//! into its role's target group.
//!
//! The first byte is a control byte: bits 0–2 pick the object kind (pod,
//! node, service, endpoints, endpointslice), bit 3 the decoder (0: the rest
//! is a watch stream, one event per line; 1: a kubeconfig).
//!
//! Checks, beyond "no panic, no hang, no unbounded allocation": a decoded
//! object's group has the source its role names it by, and every target of
//! it has an `__address__`; a kubeconfig either gives a server or says why
//! not, naming something.

#![no_main]

use levee::discovery::TargetGroup;
use levee::discovery::kubernetes::kubeconfig::Kubeconfig;
use levee::discovery::kubernetes::objects::{
    EndpointSlice, Endpoints, Node, Pod, Resource, Service,
};
use levee::discovery::kubernetes::roles::{self, Related};
use levee::discovery::kubernetes::watch::{WatchLine, decode_line};
use libfuzzer_sys::fuzz_target;

/// Joins nothing: the endpoints roles without services, pods or nodes.
struct Nothing;

impl Related for Nothing {
    fn service(&self, _: &str, _: &str) -> Option<&Service> {
        None
    }
    fn pod(&self, _: &str, _: &str) -> Option<&Pod> {
        None
    }
    fn node(&self, _: &str) -> Option<&Node> {
        None
    }
}

/// A decoded object's group, and the source it must have.
trait Built: Resource {
    fn built(&self) -> Option<(TargetGroup, String)>;
}

impl Built for Pod {
    fn built(&self) -> Option<(TargetGroup, String)> {
        let m = &self.metadata;
        Some((roles::pod::group(self, None), roles::pod::source(&m.namespace, &m.name)))
    }
}

impl Built for Node {
    fn built(&self) -> Option<(TargetGroup, String)> {
        let g = roles::node::group(self)?;
        Some((g, roles::node::source(&self.metadata.name)))
    }
}

impl Built for Service {
    fn built(&self) -> Option<(TargetGroup, String)> {
        let m = &self.metadata;
        Some((roles::service::group(self), roles::service::source(&m.namespace, &m.name)))
    }
}

impl Built for Endpoints {
    fn built(&self) -> Option<(TargetGroup, String)> {
        let m = &self.metadata;
        Some((
            roles::endpoints::group(self, &Nothing),
            roles::endpoints::source(&m.namespace, &m.name),
        ))
    }
}

impl Built for EndpointSlice {
    fn built(&self) -> Option<(TargetGroup, String)> {
        let m = &self.metadata;
        Some((
            roles::endpointslice::group(self, &Nothing),
            roles::endpointslice::source(&m.namespace, &m.name),
        ))
    }
}

fn check<T: Built>(object: &T) {
    if let Some((group, source)) = object.built() {
        assert_eq!(group.source, source);
        for t in &group.targets {
            assert!(t.get("__address__").is_some(), "{group:?}");
        }
    }
}

fn stream<T: Built>(body: &[u8]) {
    for line in body.split(|b| *b == b'\n') {
        match decode_line::<T>(line) {
            Ok(WatchLine::Applied(o)) | Ok(WatchLine::Deleted(o)) => check(&o),
            Ok(_) | Err(_) => {}
        }
    }
}

fn run<T: Built>(mode: u8, body: &[u8]) {
    match mode {
        0 => stream::<T>(body),
        _ => {
            let Ok(text) = std::str::from_utf8(body) else {
                return;
            };
            match Kubeconfig::parse(text, std::path::Path::new("/nonexistent")) {
                Ok(k) => assert!(!k.server.is_empty()),
                Err(e) => assert!(!e.to_string().is_empty()),
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&control, body)) = data.split_first() else {
        return;
    };
    let mode = (control >> 3) & 1;
    match control & 7 {
        0 => run::<Pod>(mode, body),
        1 => run::<Node>(mode, body),
        2 => run::<Service>(mode, body),
        3 => run::<Endpoints>(mode, body),
        _ => run::<EndpointSlice>(mode, body),
    }
});
