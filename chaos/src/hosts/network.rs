//! The simulator's side of the broker's outbound seam (`kafka_lab_broker::network`): turmoil
//! TCP, so links between simulated nodes can be cut, held or delayed.

use kafka_lab_broker::network::{ConnectFuture, Connector, NodeStream};

/// Connects over turmoil's network, by host name.
#[derive(Debug, Default, Clone, Copy)]
pub struct TurmoilConnector;

impl Connector for TurmoilConnector {
    fn connect<'a>(&'a self, host: &'a str, port: u16) -> ConnectFuture<'a> {
        Box::pin(async move {
            let stream = turmoil::net::TcpStream::connect((host, port)).await?;
            Ok(Box::new(stream) as Box<dyn NodeStream>)
        })
    }
}
