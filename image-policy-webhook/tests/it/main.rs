//! Integration tests of the admission server: the real server on a loopback
//! port, a test CA made with rcgen, clients that verify the certificate.

mod registry;
mod support;

mod child;

mod deploy;
mod exemptions;
mod hostile;
mod hostile_bodies;
mod http;
mod pin;
mod registry_setup;
mod reload;
mod reviews;
mod tls;
mod verify;
