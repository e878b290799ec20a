//! Store rows as the API shows them: what each audience may see, and nothing
//! more (node passwords are never sent back).

use resist_proto::api::{NodeView, OperatorView, ProbeView};
use resist_proto::endpoint::Endpoint;
use resist_store::{Node, Operator, Probe};

/// Where a node listens.
pub(crate) fn endpoint(n: &Node) -> Endpoint {
    Endpoint {
        host: n.host.clone(),
        port: n.port,
    }
}

pub(crate) fn node(n: &Node) -> NodeView {
    NodeView {
        id: n.id.0,
        operator: n.operator.0,
        endpoint: endpoint(n),
        protocol: n.protocol.as_str().to_owned(),
        username: n.username.clone(),
        has_password: n.password.is_some(),
        created_at: n.created_at.seconds(),
        updated_at: n.updated_at.seconds(),
    }
}

pub(crate) fn operator(o: &Operator, nodes: &[Node]) -> OperatorView {
    OperatorView {
        id: o.id.0,
        payout_address: o.payout_address.to_string(),
        created_at: o.created_at.seconds(),
        updated_at: o.updated_at.seconds(),
        nodes: nodes.iter().map(node).collect(),
    }
}

pub(crate) fn probe(p: &Probe) -> ProbeView {
    ProbeView {
        id: p.id.0,
        public_key: hex::encode(p.public_key),
        region: p.region.to_string(),
        enabled: p.enabled,
        enrolled_at: p.enrolled_at.seconds(),
        updated_at: p.updated_at.seconds(),
    }
}
