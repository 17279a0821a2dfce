//! One hickory-server [`Server`] per sandbox, listening on 127.0.0.11:53 (UDP
//! and TCP) inside the container's namespace.
//!
//! The sockets are created by a thread that entered the sandbox's namespace
//! and then registered with the daemon's runtime, so the server runs in the
//! daemon but answers inside the container. After a daemon restart the sockets
//! are gone with the old process; [`start`] is simply called again.

use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use hickory_server::Server;
use hickory_server::net::runtime::Time;
use hickory_server::proto::op::{Message, MessageType, Metadata, OpCode, ResponseCode};
use hickory_server::proto::rr::rdata::{A, AAAA, PTR};
use hickory_server::proto::rr::{Name, RData, Record, RecordType};
use hickory_server::server::{Request, RequestHandler, ResponseHandler, ResponseInfo};
use hickory_server::zone_handler::MessageResponseBuilder;

use super::forward::Forwarder;
use super::{DnsTable, RESOLVER_IP, TTL, parse_reverse};
use crate::error::NetResult;
use crate::ns;

/// A running resolver; dropping it stops it.
pub struct DnsServer {
    server: Server<Handler>,
}

impl DnsServer {
    /// Stop serving (also done on drop).
    pub fn stop(&self) {
        self.server.shutdown_token().cancel();
    }
}

impl Drop for DnsServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Start the resolver of `sandbox_id` in the namespace at `netns`.
pub fn start(
    netns: &Path,
    sandbox_id: &str,
    table: Arc<DnsTable>,
    fwd: Arc<Forwarder>,
) -> NetResult<DnsServer> {
    let addr = SocketAddr::new(IpAddr::V4(RESOLVER_IP), 53);
    let (udp, tcp) = ns::run_in(netns, move || {
        let udp = std::net::UdpSocket::bind(addr)?;
        udp.set_nonblocking(true)?;
        let tcp = std::net::TcpListener::bind(addr)?;
        tcp.set_nonblocking(true)?;
        Ok((udp, tcp))
    })?;
    let udp = tokio::net::UdpSocket::from_std(udp)
        .map_err(|e| crate::error::NetError::io("dns socket", e))?;
    let tcp = tokio::net::TcpListener::from_std(tcp)
        .map_err(|e| crate::error::NetError::io("dns socket", e))?;
    let mut server = Server::new(Handler {
        sandbox: sandbox_id.to_string(),
        table,
        fwd,
    });
    server.register_socket(udp);
    server.register_listener(tcp, Duration::from_secs(5), 16);
    Ok(DnsServer { server })
}

struct Handler {
    sandbox: String,
    table: Arc<DnsTable>,
    fwd: Arc<Forwarder>,
}

fn record(name: &Name, rdata: RData) -> Record {
    Record::from_rdata(name.clone(), TTL, rdata)
}

impl Handler {
    /// Local answer: `Some(records)` when the name is ours (possibly none of
    /// the asked type), `None` when it must go upstream.
    fn local(&self, name: &Name, qtype: RecordType) -> Option<Vec<Record>> {
        let text = name.to_string();
        match qtype {
            RecordType::A | RecordType::AAAA | RecordType::ANY => {
                let addrs = self.table.lookup(&self.sandbox, &text)?;
                Some(
                    addrs
                        .into_iter()
                        .filter_map(|ip| match (ip, qtype) {
                            (IpAddr::V4(a), RecordType::A | RecordType::ANY) => {
                                Some(record(name, RData::A(A(a))))
                            }
                            (IpAddr::V6(a), RecordType::AAAA | RecordType::ANY) => {
                                Some(record(name, RData::AAAA(AAAA(a))))
                            }
                            _ => None,
                        })
                        .collect(),
                )
            }
            RecordType::PTR => {
                let ip = parse_reverse(&text)?;
                let target = self.table.reverse(&self.sandbox, ip)?;
                let target = Name::from_ascii(format!("{target}.")).ok()?;
                Some(vec![record(name, RData::PTR(PTR(target)))])
            }
            _ => self.table.lookup(&self.sandbox, &text).map(|_| Vec::new()),
        }
    }
}

#[async_trait::async_trait]
impl RequestHandler for Handler {
    async fn handle_request<R: ResponseHandler, T: Time>(
        &self,
        request: &Request,
        mut response: R,
    ) -> ResponseInfo {
        let builder = MessageResponseBuilder::from_message_request(request);
        let meta = request.metadata;
        let fail = |code: ResponseCode| {
            let mut m = Metadata::response_from_request(&meta);
            m.response_code = code;
            m.recursion_available = true;
            m
        };
        if meta.message_type != MessageType::Query || meta.op_code != OpCode::Query {
            return send(
                &mut response,
                builder.build_no_records(fail(ResponseCode::NotImp)),
                &meta,
            )
            .await;
        }
        let Ok(info) = request.request_info() else {
            return send(
                &mut response,
                builder.build_no_records(fail(ResponseCode::FormErr)),
                &meta,
            )
            .await;
        };
        let name: Name = info.query.name().into();
        if let Some(answers) = self.local(&name, info.query.query_type()) {
            let mut m = fail(ResponseCode::NoError);
            m.authoritative = true;
            return send(
                &mut response,
                builder.build(m, answers.iter(), None.iter(), None.iter(), None.iter()),
                &meta,
            )
            .await;
        }
        let Some(sb) = self.table.sandbox(&self.sandbox) else {
            return send(
                &mut response,
                builder.build_no_records(fail(ResponseCode::Refused)),
                &meta,
            )
            .await;
        };
        if !sb.forward {
            return send(
                &mut response,
                builder.build_no_records(fail(ResponseCode::ServFail)),
                &meta,
            )
            .await;
        }
        let ups = self.fwd.upstreams(&sb.upstream);
        let tcp = matches!(request.protocol(), hickory_server::net::xfer::Protocol::Tcp);
        let reply = match self
            .fwd
            .forward(&ups, request.as_slice(), tcp)
            .await
            .map(|b| Message::from_vec(&b))
        {
            Some(Ok(m)) => m,
            _ => {
                return send(
                    &mut response,
                    builder.build_no_records(fail(ResponseCode::ServFail)),
                    &meta,
                )
                .await;
            }
        };
        let mut m = fail(reply.metadata.response_code);
        m.truncation = reply.metadata.truncation;
        m.authentic_data = reply.metadata.authentic_data;
        let resp = builder.build(
            m,
            reply.answers.iter(),
            reply.authorities.iter(),
            None.iter(),
            reply
                .additionals
                .iter()
                .filter(|r| r.record_type() != RecordType::OPT),
        );
        send(&mut response, resp, &meta).await
    }
}

async fn send<'a, R: ResponseHandler>(
    response: &mut R,
    msg: hickory_server::zone_handler::MessageResponse<
        '_,
        'a,
        impl Iterator<Item = &'a Record> + Send + 'a,
        impl Iterator<Item = &'a Record> + Send + 'a,
        impl Iterator<Item = &'a Record> + Send + 'a,
        impl Iterator<Item = &'a Record> + Send + 'a,
    >,
    meta: &Metadata,
) -> ResponseInfo {
    match response.send_response(msg).await {
        Ok(info) => info,
        Err(e) => {
            tracing::debug!("dns: cannot send response: {e}");
            let mut m = Metadata::response_from_request(meta);
            m.response_code = ResponseCode::ServFail;
            hickory_server::proto::op::Header {
                metadata: m,
                counts: Default::default(),
            }
            .into()
        }
    }
}
