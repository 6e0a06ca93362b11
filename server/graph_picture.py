"""A person's identity graph as a picture: Graphviz DOT text, or SVG through Graphviz's `dot`.
Identifiers are nodes shaped and coloured by type; shared identifiers are marked; links are
labelled with their rule and strength (weak ones dotted); weak links to other persons that are
not applied are dashed, to a node standing for that person. Only display-safe values are drawn."""

from __future__ import annotations

import shutil
import subprocess

from idstitch.v1 import identity_service_pb2 as pb

SHAPES = {
    "customer_id": ("box", "#1f77b4"),
    "email": ("ellipse", "#2ca02c"),
    "phone": ("ellipse", "#17becf"),
    "cookie": ("note", "#7f7f7f"),
    "device_id": ("component", "#9467bd"),
    "loyalty_number": ("tab", "#ff7f0e"),
    "card_token": ("cds", "#d62728"),
}


def _quote(text: str) -> str:
    """A DOT string: backslashes and quotes escaped, line breaks as DOT's own `\\n`."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def dot(g: pb.GetIdentityGraphResponse) -> str:
    lines = [f"graph {_quote(g.person_id)} {{", '  graph [rankdir=LR, fontname="Helvetica"];',
             '  node [fontname="Helvetica", fontsize=10, style=filled, fillcolor=white];',
             '  edge [fontname="Helvetica", fontsize=9];',
             f"  label={_quote('person ' + g.person_id)};"]  # fmt: skip
    for n in g.nodes:
        shape, colour = SHAPES.get(n.type, ("ellipse", "#333333"))
        label = f"{n.type}\n{n.display_value}" + ("\n(shared)" if n.shared else "")
        extra = ', style="filled,dashed", fillcolor="#eeeeee"' if n.shared else ""
        lines.append(
            f"  {_quote(n.node_id)} [label={_quote(label)}, shape={shape}, color={_quote(colour)}{extra}];"
        )
    for e in g.edges:
        proves = pb.EvidenceClass.Name(e.evidence_class).removeprefix("EVIDENCE_CLASS_").lower()
        style = "dotted" if e.strength == pb.STRENGTH_WEAK else "solid"
        label = f"{e.rule} ({proves}, {e.event_count})"
        lines.append(
            f"  {_quote(e.from_node_id)} -- {_quote(e.to_node_id)} [label={_quote(label)}, style={style}];"
        )
    others = sorted({u.other_person_id for u in g.unapplied_links})
    for other in others:
        lines.append(
            f"  {_quote('person:' + other)} [label={_quote('other person ' + other)}, shape=doubleoctagon];"
        )
    for u in g.unapplied_links:
        label = f"{u.rule}: not applied ({u.event_count})"
        lines.append(
            f"  {_quote(u.from_node_id)} -- {_quote('person:' + u.other_person_id)} "
            f'[label={_quote(label)}, style=dashed, color="#d62728"];'
        )
    lines.append("}")
    return "\n".join(lines) + "\n"


def svg(dot_text: str) -> str:
    """Rendered by Graphviz's `dot` (install the `graphviz` package of your system)."""
    exe = shutil.which("dot")
    if exe is None:
        raise OSError("--format svg needs Graphviz's `dot` on PATH (or use --format dot)")
    done = subprocess.run(
        [exe, "-Tsvg"], input=dot_text, capture_output=True, text=True, timeout=60, check=True
    )
    return done.stdout
