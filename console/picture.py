"""The identity graph as a picture the page can carry inline: identifiers on a circle, coloured
by type, shared ones dashed; applied links as lines labelled with their rule and evidence class;
held-back links as dashed lines to the other person. Laid out here (no JavaScript, no graphviz
on the console's machine); Jinja's escaping covers every label, since values come from callers."""

from __future__ import annotations

import math
from dataclasses import dataclass

from idstitch.v1 import identity_service_pb2 as pb

WIDTH, HEIGHT, RADIUS = 760, 520, 190
COLOURS = {
    "customer_id": "#1f6feb", "loyalty_number": "#8250df", "email": "#bf3989", "phone": "#cf222e",
    "cookie": "#1a7f37", "device_id": "#9a6700", "card_token": "#0550ae", "ad_id": "#57606a",
}  # fmt: skip
CLASSES = {
    pb.EVIDENCE_CLASS_AUTHENTICATED: "authenticated",
    pb.EVIDENCE_CLASS_SAME_DEVICE: "same device",
    pb.EVIDENCE_CLASS_DECLARED: "declared",
    pb.EVIDENCE_CLASS_CLICK_THROUGH: "click-through",
}


@dataclass(frozen=True)
class Node:
    x: float
    y: float
    type: str
    label: str
    shared: bool
    colour: str


@dataclass(frozen=True)
class Line:
    x1: float
    y1: float
    x2: float
    y2: float
    label: str
    held: bool


@dataclass(frozen=True)
class Picture:
    width: int
    height: int
    nodes: list[Node]
    lines: list[Line]
    others: list[Node]
    """The other persons held-back links lead to."""


def evidence_name(value: int) -> str:
    return CLASSES.get(value, "unknown")  # type: ignore[call-overload]


def picture(graph: pb.GetIdentityGraphResponse) -> Picture:
    n = max(len(graph.nodes), 1)
    where: dict[str, tuple[float, float]] = {}
    nodes = []
    for i, node in enumerate(graph.nodes):
        angle = 2 * math.pi * i / n - math.pi / 2
        x = WIDTH / 2 + (RADIUS if n > 1 else 0) * math.cos(angle)
        y = HEIGHT / 2 + (RADIUS if n > 1 else 0) * math.sin(angle)
        where[node.node_id] = (x, y)
        label = f"{node.type}: {node.display_value}"
        nodes.append(Node(x, y, node.type, label, node.shared, COLOURS.get(node.type, "#57606a")))
    lines = []
    for e in graph.edges:
        if e.from_node_id in where and e.to_node_id in where:
            (x1, y1), (x2, y2) = where[e.from_node_id], where[e.to_node_id]
            label = f"{e.rule} · {evidence_name(e.evidence_class)} · {e.event_count} events"
            lines.append(Line(x1, y1, x2, y2, label, held=False))
    others: dict[str, Node] = {}
    for u in graph.unapplied_links:
        if u.from_node_id not in where:
            continue
        if u.other_person_id not in others:
            k = len(others)
            others[u.other_person_id] = Node(
                60 + 140 * k, HEIGHT - 24, "person", u.other_person_id, False, "#57606a"
            )
        other = others[u.other_person_id]
        (x1, y1) = where[u.from_node_id]
        label = f"held: {u.rule} · {evidence_name(u.evidence_class)} · {u.event_count} events"
        lines.append(Line(x1, y1, other.x, other.y, label, held=True))
    return Picture(WIDTH, HEIGHT, nodes, lines, list(others.values()))
