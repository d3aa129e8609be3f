"""Hypothesis strategies that break valid designs and command lines (used by test_fuzz.py).

Every strategy starts from a valid design (the paper's sample, a triangular patch,
a strip) and damages it in one of the ways a hand-written design file goes wrong.
The *targeted* mutations also say which field the error message must name, so the
fuzz tests check the message and not only that some error was raised.
"""

from __future__ import annotations

import copy
import json
import math
import string

import numpy as np
from hypothesis import strategies as st

from fem_mnn.design import paper_sample, triangular_patch, triangular_strip

BASES = {
    "paper": paper_sample(),
    "patch": triangular_patch(4, 3, width=np.linspace(2.5, 1.5, 16)),
    "strip": triangular_strip(4, 3),
}
DICTS = {k: v.to_dict() for k, v in BASES.items()}
REQUIRED = ("nodes", "bonds", "widths", "thickness", "material", "fixed")
KNOWN = {"name", "units", "nodes", "bonds", "widths", "thickness", "material", "fixed", "geometry", "comment"}

# ----------------------------------------------------------------------- values

#: Numbers JSON can carry that are not finite floats (json writes NaN/Infinity, reads huge ints).
NON_FINITE = st.sampled_from([math.nan, math.inf, -math.inf, 10**400, -(10**400)])
#: Values of the wrong type where a number is expected (no list of two numbers: that is a node).
WRONG_TYPE = st.one_of(
    st.none(),
    st.booleans(),
    st.text(max_size=4),
    st.lists(st.integers(0, 3), max_size=3).filter(lambda v: len(v) != 2),
    st.dictionaries(st.text(max_size=2), st.integers(), max_size=2),
)
BAD_NUMBER = st.one_of(NON_FINITE, WRONG_TYPE)
ANY_JSON = st.recursive(
    st.none() | st.booleans() | st.floats() | st.integers() | st.text(max_size=5),
    lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=3), c, max_size=3),
    max_leaves=8,
)
#: Widths the printer cannot make (the bases use the default range 1.5-2.5 mm).
UNPRINTABLE = st.one_of(
    st.floats(max_value=1.4999, allow_nan=False),
    st.floats(min_value=2.5001, allow_nan=False),
    BAD_NUMBER,
)
NOT_AN_ID = st.one_of(
    st.floats(allow_nan=True).filter(lambda x: not x.is_integer() if math.isfinite(x) else True),
    WRONG_TYPE,
    st.sampled_from([10**30, -(10**30), 1e300]),
)


def base(draw) -> tuple[str, dict]:
    name = draw(st.sampled_from(sorted(BASES)))
    return name, copy.deepcopy(DICTS[name])


# ----------------------------------------------------------- targeted mutations


@st.composite
def targeted_design(draw):
    """(design dict or other JSON value, field the error must name or None, needle in the message)."""
    name, d = base(draw)
    b0 = BASES[name]
    n, nb = b0.n_nodes, b0.n_bonds
    kind = draw(
        st.sampled_from(
            [
                "node_value",
                "node_shape",
                "width",
                "bond_id",
                "bond_shape",
                "self_bond",
                "dup_bond",
                "missing",
                "unknown_key",
                "thickness",
                "E",
                "nu",
                "no_E",
                "material_type",
                "fixed_unknown",
                "fixed_dup",
                "fixed_empty",
                "fixed_one",
                "coincident",
                "width_count",
                "width_min_gt_max",
                "range_shrinks",
                "geometry_value",
                "geometry_unknown",
                "not_object",
                "cross",
                "list_type",
                "far_node",
            ]
        )
    )
    i = draw(st.integers(0, n - 1))
    b = draw(st.integers(0, nb - 1))
    k = draw(st.integers(0, 1))
    field, needle = None, None
    if kind == "node_value":
        d["nodes"][i][k] = draw(BAD_NUMBER)
        field = f"nodes[{i}][{k}]"
    elif kind == "far_node":
        d["nodes"][i][k] = draw(st.sampled_from([1.0001e9, -1e12, 1e150, -1e300, 1.7e308]))
        field, needle = f"nodes[{i}]", "within"
    elif kind == "node_shape":
        d["nodes"][i] = draw(
            st.one_of(st.lists(st.floats(-10, 10), max_size=4).filter(lambda v: len(v) != 2), WRONG_TYPE)
        )
        field = f"nodes[{i}]"
    elif kind == "width":
        d["widths"][b] = draw(UNPRINTABLE)
        field = f"widths[{b}]"
    elif kind == "bond_id":
        d["bonds"][b][k] = draw(st.one_of(st.integers(n, 10**6), st.integers(-(10**6), -1), NOT_AN_ID))
        field = f"bonds[{b}][{k}]"
    elif kind == "bond_shape":
        d["bonds"][b] = draw(
            st.one_of(st.lists(st.integers(0, n - 1), max_size=4).filter(lambda v: len(v) != 2), WRONG_TYPE)
        )
        field = f"bonds[{b}]"
    elif kind == "self_bond":
        d["bonds"][b] = [d["bonds"][b][k]] * 2
        field, needle = f"bonds[{b}]", "itself"
    elif kind == "dup_bond":
        c = draw(st.integers(0, nb - 1).filter(lambda c: c != b))
        pair = list(d["bonds"][c])
        d["bonds"][b] = pair[::-1] if draw(st.booleans()) else pair
        field, needle = f"bonds[{max(b, c)}]", "duplicate"
    elif kind == "missing":
        key = draw(st.sampled_from(REQUIRED))
        del d[key]
        field, needle = key, "missing"
    elif kind == "unknown_key":
        key = draw(st.text(string.ascii_letters + "_-. ", min_size=1, max_size=8).filter(lambda s: s not in KNOWN))
        d[key] = draw(ANY_JSON)
        field, needle = key, "unknown key"
    elif kind == "thickness":
        d["thickness"] = draw(st.one_of(BAD_NUMBER, st.floats(max_value=0, allow_nan=False)))
        field = "thickness"
    elif kind == "E":
        d["material"]["E"] = draw(st.one_of(BAD_NUMBER, st.floats(max_value=0, allow_nan=False)))
        field = "material.E"
    elif kind == "nu":
        d["material"]["nu"] = draw(
            st.one_of(BAD_NUMBER, st.floats(max_value=-1, allow_nan=False), st.floats(min_value=0.5, allow_nan=False))
        )
        field = "material.nu"
    elif kind == "no_E":
        del d["material"]["E"]
        field = "material.E"
    elif kind == "material_type":
        d["material"] = draw(st.one_of(WRONG_TYPE.filter(lambda v: not isinstance(v, dict)), st.lists(st.floats())))
        field = "material"
    elif kind == "fixed_unknown":
        j = draw(st.integers(0, len(d["fixed"]) - 1))
        d["fixed"][j] = draw(st.one_of(st.integers(n, 10**9), st.integers(-(10**9), -1)))
        field = f"fixed[{j}]"
    elif kind == "fixed_dup":
        d["fixed"].append(d["fixed"][k])
        field, needle = "fixed", "twice"
    elif kind == "fixed_empty":
        d["fixed"] = []
        field, needle = "fixed", "rigid body"
    elif kind == "fixed_one":
        d["fixed"] = [d["fixed"][k]]
        field, needle = "fixed", "zero-energy mode"
    elif kind == "coincident":
        j = draw(st.integers(0, n - 1).filter(lambda j: j != i))
        eps = draw(st.sampled_from([0.0, 1e-12, -3e-11]))
        d["nodes"][j] = [c + eps for c in d["nodes"][i]]
        field, needle = f"nodes[{max(i, j)}]", "coincides"
    elif kind == "width_count":
        if draw(st.booleans()):
            d["widths"].pop()
        else:
            d["widths"].append(2.0)
        field, needle = "widths", "one width per bond"
    elif kind == "width_min_gt_max":
        d["geometry"]["width_min"] = draw(st.floats(min_value=2.6, max_value=1e6))
        field = "geometry.width_min"
    elif kind == "range_shrinks":
        # the range no longer holds the design's first bond
        d["geometry"]["width_max"] = draw(st.floats(min_value=1.5, max_value=d["widths"][0] * 0.999))
        field, needle = "widths[0]", "printable range"
    elif kind == "geometry_value":
        key = draw(st.sampled_from(sorted(d["geometry"])))
        d["geometry"][key] = draw(st.one_of(BAD_NUMBER, st.floats(max_value=0, allow_nan=False)))
        field = f"geometry.{key}"
    elif kind == "geometry_unknown":
        key = draw(
            st.text(string.ascii_lowercase + "_", min_size=1, max_size=8).filter(lambda s: s not in d["geometry"])
        )
        d["geometry"][key] = 1.0
        field, needle = f"geometry.{key}", "unknown key"
    elif kind == "not_object":
        d = draw(st.one_of(st.lists(ANY_JSON, max_size=3), st.text(max_size=5), st.floats(), st.integers(), st.none()))
        needle = "JSON object"
    elif kind == "cross":
        # a bond between two nodes that are not neighbours crosses, overlaps or passes through others
        pos = np.array(d["nodes"])
        dist = np.hypot(*(pos[:, None, :] - pos[None, :, :]).transpose(2, 0, 1))
        far = np.argwhere(np.triu(dist > 16.0 * 1.01))
        p, q = far[draw(st.integers(0, len(far) - 1))].tolist()
        d["bonds"].append([p, q])
        d["widths"].append(2.0)
        needle = "crosses"
    elif kind == "list_type":
        key = draw(st.sampled_from(["nodes", "bonds", "widths", "fixed"]))
        d[key] = draw(
            st.one_of(
                WRONG_TYPE.filter(lambda v: not isinstance(v, list)),
                st.dictionaries(st.text(max_size=2), st.integers(), max_size=2),
            )
        )
        field, needle = key, "must be a list"
    return d, field, needle


# -------------------------------------------------------------- free mutations


def _drop_node(d: dict, i: int) -> None:
    keep = [b for b, (p, q) in enumerate(d["bonds"]) if i not in (p, q)]
    d["bonds"] = [[p - (p > i), q - (q > i)] for b, (p, q) in enumerate(d["bonds"]) if b in keep]
    d["widths"] = [d["widths"][b] for b in keep]
    d["fixed"] = [f - (f > i) for f in d["fixed"] if f != i]
    del d["nodes"][i]


@st.composite
def mutated_design(draw):
    """A valid design after 1 to 4 arbitrary mutations (may still be valid)."""
    _, d = base(draw)
    for _ in range(draw(st.integers(1, 4))):
        if not isinstance(d, dict):
            break
        n = len(d["nodes"]) if isinstance(d.get("nodes"), list) else 0
        nb = len(d["bonds"]) if isinstance(d.get("bonds"), list) else 0
        kind = draw(
            st.sampled_from(
                [
                    "targeted",
                    "perturb",
                    "scale",
                    "drop_node",
                    "add_node",
                    "drop_bonds",
                    "replace_field",
                    "shuffle_bonds",
                    "widths_in_range",
                    "fixed_subset",
                    "delete_key",
                    "nest",
                ]
            )
        )
        try:
            if kind == "targeted":
                d = draw(targeted_design())[0]
            elif kind == "perturb" and n:
                i = draw(st.integers(0, n - 1))
                mag = draw(st.sampled_from([1e-10, 1e-3, 1.0, 8.0, 30.0, 1e6]))
                d["nodes"][i] = [c + mag * draw(st.floats(-1, 1)) for c in d["nodes"][i]]
            elif kind == "scale" and n:
                s = draw(st.sampled_from([1e-12, 1e-6, 1e-3, -1.0, 7.0, 1e6, 1e150, 1e300]))
                d["nodes"] = [[s * c for c in p] for p in d["nodes"]]
            elif kind == "drop_node" and n:
                _drop_node(d, draw(st.integers(0, n - 1)))
            elif kind == "add_node":
                d["nodes"].append([draw(st.floats(-80, 80)), draw(st.floats(-80, 80))])
                for _ in range(draw(st.integers(0, 3))):
                    d["bonds"].append([n, draw(st.integers(0, max(n - 1, 0)))])
                    d["widths"].append(draw(st.floats(1.5, 2.5)))
            elif kind == "drop_bonds" and nb:
                drop = set(draw(st.lists(st.integers(0, nb - 1), max_size=4)))
                d["bonds"] = [p for b, p in enumerate(d["bonds"]) if b not in drop]
                d["widths"] = [w for b, w in enumerate(d["widths"]) if b not in drop]
            elif kind == "replace_field":
                d[draw(st.sampled_from(sorted(KNOWN)))] = draw(ANY_JSON)
            elif kind == "shuffle_bonds" and nb:
                perm = draw(st.permutations(range(nb)))
                d["bonds"] = [d["bonds"][p] for p in perm]
                d["widths"] = [d["widths"][p] for p in perm]
            elif kind == "widths_in_range":
                d["widths"] = [draw(st.floats(1.5, 2.5)) for _ in d["widths"]]
            elif kind == "fixed_subset" and n:
                d["fixed"] = draw(st.lists(st.integers(-1, n), max_size=n + 1))
            elif kind == "delete_key":
                d.pop(draw(st.sampled_from(sorted(KNOWN))), None)
            elif kind == "nest":
                key = draw(st.sampled_from(["nodes", "bonds", "widths", "fixed", "material", "geometry"]))
                d[key] = [d.get(key)]
        except (TypeError, KeyError, IndexError, AttributeError, ValueError):
            # an earlier mutation already broke the structure this one works on: keep it as it is
            continue
    return d


@st.composite
def floppy_candidate(draw):
    """A base design with some bonds removed and another set of clamped nodes."""
    name, d = base(draw)
    n, nb = BASES[name].n_nodes, BASES[name].n_bonds
    drop = set(draw(st.lists(st.integers(0, nb - 1), max_size=6)))
    d["bonds"] = [p for b, p in enumerate(d["bonds"]) if b not in drop]
    d["widths"] = [w for b, w in enumerate(d["widths"]) if b not in drop]
    d["fixed"] = sorted(set(draw(st.lists(st.integers(0, n - 1), min_size=0, max_size=4))))
    return d


# --------------------------------------------------------------------- JSON text


@st.composite
def broken_json_bytes(draw) -> bytes:
    """The text of a (maybe already broken) design, damaged as a file."""
    d = draw(st.one_of(st.sampled_from(list(DICTS.values())), targeted_design().map(lambda t: t[0])))
    text = json.dumps(d, indent=draw(st.sampled_from([None, 1])))
    kind = draw(
        st.sampled_from(
            ["truncate", "delete", "insert", "replace", "bytes", "bom", "utf16", "empty", "deep", "bigint", "valid_ws"]
        )
    )
    n = len(text)
    if kind == "truncate":
        return text[: draw(st.integers(0, n - 1))].encode()
    if kind == "delete":
        a = draw(st.integers(0, n - 1))
        return (text[:a] + text[a + draw(st.integers(1, 20)) :]).encode()
    if kind == "insert":
        a = draw(st.integers(0, n))
        junk = draw(
            st.text(
                alphabet=st.sampled_from(list('{}[],:"0123456789-+.eE nulltrueNaI\\')) | st.characters(),
                min_size=1,
                max_size=6,
            )
        )
        return (text[:a] + junk + text[a:]).encode("utf-8", "surrogatepass")
    if kind == "replace":
        a = draw(st.integers(0, n - 1))
        return (text[:a] + draw(st.characters(codec="utf-8")) + text[a + 1 :]).encode()
    if kind == "bytes":
        a = draw(st.integers(0, n))
        raw = text.encode()
        return raw[:a] + draw(st.binary(min_size=1, max_size=4)) + raw[a:]
    if kind == "bom":
        return b"\xef\xbb\xbf" + text.encode()
    if kind == "utf16":
        return text.encode("utf-16")
    if kind == "empty":
        return draw(st.sampled_from([b"", b" ", b"\n", b"null", b"0", b"[]", b"{}", b'""']))
    if kind == "deep":
        k = draw(st.sampled_from([10, 1000, 100_000]))
        return (draw(st.sampled_from(["[", '{"a":'])) * k).encode() + b"1" + (b"]" * k)
    if kind == "bigint":
        return text.replace(
            '"thickness": 2.0', '"thickness": 1' + "0" * draw(st.sampled_from([20, 400, 5000])), 1
        ).encode()
    # whitespace in between tokens keeps the file valid
    return (" \n" + text.replace(",", " ,\t") + "\n\n").encode()
