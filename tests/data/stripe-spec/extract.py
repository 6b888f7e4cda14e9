"""Regenerate operations.json: the request-parameter schema of each Stripe operation Uplift's
gateway sends, plus Stripe's pending-update restrictions. Standard library only.

    python tests/data/stripe-spec/extract.py --openapi PATH/spec3.json  > operations.json
    python tests/data/stripe-spec/extract.py --sdk PATH/site-packages/stripe/params > ...

`--openapi` reads Stripe's OpenAPI spec (stripe/openapi `openapi/spec3.json`, or the compact
`latest/openapi.spec3.json`): the form-encoded request body of each POST, the query
parameters of each GET and DELETE. `--sdk` reads the same information from the parameter
TypedDicts stripe-python generates from that spec (`# File generated from our OpenAPI spec`),
parsed with `ast`, never imported: the same shapes, enums and empty-string alternatives, but
no `maxLength` (README.md says which source the checked-in file came from, and why).

The output keeps only what a validator needs: `type`, `properties`, `required`, `enum`,
`anyOf`, `items`, `additionalProperties`, `maxLength`, `format` (decimal, unix-time).
"""

from __future__ import annotations

import argparse
import ast
import json
import sys
from pathlib import Path
from typing import Any

Schema = dict[str, Any]

# method, path (as Stripe's spec spells it), stripe-python params module, params class.
OPERATIONS: tuple[tuple[str, str, str, str], ...] = (
    ("POST", "/v1/customers", "_customer_create_params", "CustomerCreateParams"),
    ("GET", "/v1/customers/{customer}", "_customer_retrieve_params", "CustomerRetrieveParams"),
    ("POST", "/v1/customers/{customer}", "_customer_update_params", "CustomerUpdateParams"),
    (
        "POST",
        "/v1/payment_methods/{payment_method}/attach",
        "_payment_method_attach_params",
        "PaymentMethodAttachParams",
    ),
    ("POST", "/v1/products", "_product_create_params", "ProductCreateParams"),
    ("GET", "/v1/products", "_product_list_params", "ProductListParams"),
    ("GET", "/v1/products/{id}", "_product_retrieve_params", "ProductRetrieveParams"),
    ("POST", "/v1/prices", "_price_create_params", "PriceCreateParams"),
    ("GET", "/v1/prices", "_price_list_params", "PriceListParams"),
    ("GET", "/v1/prices/{price}", "_price_retrieve_params", "PriceRetrieveParams"),
    ("POST", "/v1/subscriptions", "_subscription_create_params", "SubscriptionCreateParams"),
    (
        "GET",
        "/v1/subscriptions/{subscription_exposed_id}",
        "_subscription_retrieve_params",
        "SubscriptionRetrieveParams",
    ),
    (
        "POST",
        "/v1/subscriptions/{subscription_exposed_id}",
        "_subscription_update_params",
        "SubscriptionUpdateParams",
    ),
    (
        "POST",
        "/v1/subscription_items",
        "_subscription_item_create_params",
        "SubscriptionItemCreateParams",
    ),
    (
        "POST",
        "/v1/subscription_items/{item}",
        "_subscription_item_update_params",
        "SubscriptionItemUpdateParams",
    ),
    ("POST", "/v1/coupons", "_coupon_create_params", "CouponCreateParams"),
    ("POST", "/v1/invoiceitems", "_invoice_item_create_params", "InvoiceItemCreateParams"),
    (
        "DELETE",
        "/v1/invoiceitems/{invoiceitem}",
        "_invoice_item_delete_params",
        "InvoiceItemDeleteParams",
    ),
    ("POST", "/v1/invoices", "_invoice_create_params", "InvoiceCreateParams"),
    ("GET", "/v1/invoices/{invoice}", "_invoice_retrieve_params", "InvoiceRetrieveParams"),
    (
        "POST",
        "/v1/invoices/{invoice}/finalize",
        "_invoice_finalize_invoice_params",
        "InvoiceFinalizeInvoiceParams",
    ),
    ("POST", "/v1/invoices/{invoice}/pay", "_invoice_pay_params", "InvoicePayParams"),
    (
        "POST",
        "/v1/invoices/{invoice}/void",
        "_invoice_void_invoice_params",
        "InvoiceVoidInvoiceParams",
    ),
    (
        "POST",
        "/v1/webhook_endpoints",
        "_webhook_endpoint_create_params",
        "WebhookEndpointCreateParams",
    ),
    # `uplift import` (plugin/billing/importer.py): an account's past, page by page.
    ("GET", "/v1/subscriptions", "_subscription_list_params", "SubscriptionListParams"),
    (
        "GET",
        "/v1/subscription_items",
        "_subscription_item_list_params",
        "SubscriptionItemListParams",
    ),
    ("GET", "/v1/invoices", "_invoice_list_params", "InvoiceListParams"),
    (
        "GET",
        "/v1/invoices/{invoice}/lines",
        "_invoice_line_item_list_params",
        "InvoiceLineItemListParams",
    ),
)

# https://docs.stripe.com/billing/subscriptions/pending-updates-reference ("Supported
# attributes"): with payment_behavior=pending_if_incomplete only these may be sent. The page
# nests `price` and `quantity` under `items`; `id` (which item) and, for the subscription-item
# endpoints, `subscription` are the selectors the endpoints need, not attributes that change.
PENDING_UPDATES: Schema = {
    "source": "https://docs.stripe.com/billing/subscriptions/pending-updates-reference",
    "also": "https://stripe.com/docs/billing/pending-updates-reference",
    "operations": {
        "POST /v1/subscriptions/{subscription_exposed_id}": {
            "allowed": [
                "add_invoice_items",
                "billing_cycle_anchor",
                "expand",
                "items",
                "payment_behavior",
                "proration_behavior",
                "proration_date",
                "trial_end",
                "trial_from_plan",
            ],
            "allowed_in_items": ["price", "quantity"],
            "selectors_in_items": ["id"],
        },
        "POST /v1/subscription_items": {
            "allowed": [
                "expand",
                "payment_behavior",
                "price",
                "proration_behavior",
                "proration_date",
                "quantity",
            ],
            "selectors": ["subscription"],
        },
        "POST /v1/subscription_items/{item}": {
            "allowed": [
                "expand",
                "payment_behavior",
                "price",
                "proration_behavior",
                "proration_date",
                "quantity",
            ],
            "selectors": [],
        },
    },
}

KEEP = ("type", "enum", "maxLength", "format")


# OpenAPI ------------------------------------------------------------------------------------


def _resolve(spec: Schema, node: Schema) -> Schema:
    while "$ref" in node:
        target: Any = spec
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        node = target
    return node


def _from_openapi(spec: Schema, node: Schema) -> Schema:
    node = _resolve(spec, node)
    out: Schema = {key: node[key] for key in KEEP if key in node}
    if node.get("format") not in ("decimal", "unix-time"):
        out.pop("format", None)
    if "anyOf" in node:
        out["anyOf"] = [_from_openapi(spec, option) for option in node["anyOf"]]
    if "items" in node:
        out["items"] = _from_openapi(spec, node["items"])
    if "properties" in node:
        out["type"] = "object"
        out["properties"] = {
            name: _from_openapi(spec, sub) for name, sub in sorted(node["properties"].items())
        }
        if node.get("required"):
            out["required"] = sorted(node["required"])
        extra = node.get("additionalProperties", False)
        out["additionalProperties"] = (
            _from_openapi(spec, extra) if isinstance(extra, dict) else bool(extra)
        )
    elif isinstance(node.get("additionalProperties"), dict):
        out["type"] = "object"
        out["additionalProperties"] = _from_openapi(spec, node["additionalProperties"])
    return out


def from_openapi(spec: Schema) -> dict[str, Schema]:
    found: dict[str, Schema] = {}
    for method, path, _, _ in OPERATIONS:
        operation = spec["paths"][path][method.lower()]
        if method == "POST":
            body = operation.get("requestBody", {}).get("content", {})
            form = body.get("application/x-www-form-urlencoded", {"schema": {"properties": {}}})
            params = _from_openapi(spec, form["schema"])
            params.setdefault("properties", {})
            params["type"] = "object"
            params["additionalProperties"] = False
        else:
            properties: Schema = {}
            required: list[str] = []
            for parameter in operation.get("parameters", []):
                parameter = _resolve(spec, parameter)
                if parameter["in"] != "query":
                    continue
                properties[parameter["name"]] = _from_openapi(spec, parameter["schema"])
                if parameter.get("required"):
                    required.append(parameter["name"])
            params = {
                "type": "object",
                "properties": dict(sorted(properties.items())),
                "additionalProperties": False,
            }
            if required:
                params["required"] = sorted(required)
        found[f"{method} {path}"] = params
    return found


# stripe-python's generated TypedDicts ---------------------------------------------------------

SCALARS: dict[str, Schema] = {
    "str": {"type": "string"},
    "int": {"type": "integer"},
    "bool": {"type": "boolean"},
    "float": {"type": "number"},
    "Decimal": {"type": "string", "format": "decimal"},
}


class _Module:
    def __init__(self, path: Path) -> None:
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        self.classes = {node.name: node for node in tree.body if isinstance(node, ast.ClassDef)}

    def schema(self, name: str) -> Schema:
        node = self.classes[name]
        properties: Schema = {}
        required: list[str] = []
        for statement in node.body:
            if not isinstance(statement, ast.AnnAssign) or not isinstance(
                statement.target, ast.Name
            ):
                continue
            annotation = statement.annotation
            optional = False
            if isinstance(annotation, ast.Subscript) and _name(annotation.value) in (
                "NotRequired",
                "Required",
            ):
                optional = _name(annotation.value) == "NotRequired"
                annotation = annotation.slice
            key = statement.target.id
            properties[key] = self.type_schema(annotation)
            if not optional:
                required.append(key)
        out: Schema = {
            "type": "object",
            "properties": dict(sorted(properties.items())),
            "additionalProperties": False,
        }
        if required:
            out["required"] = sorted(required)
        return out

    def type_schema(self, node: ast.expr) -> Schema:
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return self.type_schema(ast.parse(node.value, mode="eval").body)
        options = _union(node)
        if len(options) > 1:
            return self._any_of(options)
        if isinstance(node, ast.Name):
            if node.id in SCALARS:
                return dict(SCALARS[node.id])
            return self.schema(node.id)
        if isinstance(node, ast.Subscript):
            head = _name(node.value)
            args = list(node.slice.elts) if isinstance(node.slice, ast.Tuple) else [node.slice]
            if head == "Literal":
                values = [a.value for a in args if isinstance(a, ast.Constant)]
                kind = "boolean" if all(isinstance(v, bool) for v in values) else "string"
                return {"type": kind, "enum": values}
            if head == "List":
                return {"type": "array", "items": self.type_schema(args[0])}
            if head == "Dict":
                return {"type": "object", "additionalProperties": self.type_schema(args[1])}
            if head == "Union":
                return self._any_of(args)
        raise ValueError(f"unexpected annotation {ast.unparse(node)}")

    def _any_of(self, options: list[ast.expr]) -> Schema:
        # `Literal['a', 'b']|str` is how the SDK spells an enum that newer API versions may
        # extend; the spec's enum is the literal list. `UntypedStripeObject[...]` beside a
        # `Dict` is the SDK's own alternative, not the API's.
        kept = [
            o
            for o in options
            if not (isinstance(o, ast.Subscript) and _name(o.value) == "UntypedStripeObject")
        ]
        literal = any(
            isinstance(o, ast.Subscript) and _name(o.value) == "Literal" and not _only_empty(o)
            for o in kept
        )
        if literal:
            kept = [o for o in kept if not (isinstance(o, ast.Name) and o.id == "str")]
        schemas = [self.type_schema(o) for o in kept]
        merged: list[Schema] = []
        for schema in schemas:  # Literal['a']|Literal['b'] -> one enum
            previous = merged[-1] if merged else None
            if (
                previous is not None
                and set(previous) == {"type", "enum"} == set(schema)
                and previous["type"] == schema["type"]
                and "" not in previous["enum"] + schema["enum"]
            ):
                previous["enum"] = previous["enum"] + schema["enum"]
            else:
                merged.append(schema)
        return merged[0] if len(merged) == 1 else {"anyOf": merged}


def _name(node: ast.expr) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return ""


def _only_empty(node: ast.Subscript) -> bool:
    return isinstance(node.slice, ast.Constant) and node.slice.value == ""


def _union(node: ast.expr) -> list[ast.expr]:
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
        return _union(node.left) + _union(node.right)
    return [node]


def from_sdk(params_dir: Path) -> dict[str, Schema]:
    return {
        f"{method} {path}": _Module(params_dir / f"{module}.py").schema(cls)
        for method, path, module, cls in OPERATIONS
    }


# ---------------------------------------------------------------------------------------------


def _variants(node: Schema) -> list[Schema]:
    return [v for option in node["anyOf"] for v in _variants(option)] if "anyOf" in node else [node]


def merge_max_length(new: Schema, old: Schema) -> None:
    """Copy `maxLength` from `old` (the same operation in an OpenAPI spec) onto `new` (read from
    stripe-python, which does not carry it), wherever both have a string at the same place."""
    for target in _variants(new):
        for source in _variants(old):
            if target.get("type") != source.get("type"):
                continue
            if target["type"] == "string" and "maxLength" in source and "enum" not in target:
                target.setdefault("maxLength", source["maxLength"])
            for name, sub in target.get("properties", {}).items():
                if name in source.get("properties", {}):
                    merge_max_length(sub, source["properties"][name])
            if "items" in target and "items" in source:
                merge_max_length(target["items"], source["items"])
            extra, extra_old = (
                target.get("additionalProperties"),
                source.get("additionalProperties"),
            )
            if isinstance(extra, dict) and isinstance(extra_old, dict):
                merge_max_length(extra, extra_old)


def build(operations: dict[str, Schema], source: Schema) -> Schema:
    return {"source": source, "pending_updates": PENDING_UPDATES, "operations": operations}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--openapi", type=Path, help="Stripe's OpenAPI spec (JSON)")
    where.add_argument("--sdk", type=Path, help="stripe-python's stripe/params directory")
    parser.add_argument(
        "--max-length-from",
        type=Path,
        help="with --sdk: an OpenAPI spec to take maxLength from, where a parameter is in both",
    )
    parser.add_argument("--note", default="", help="recorded as source.note")
    args = parser.parse_args(argv)
    if args.openapi is not None:
        spec = json.loads(args.openapi.read_text(encoding="utf-8"))
        source: Schema = {"kind": "openapi", "version": spec["info"]["version"]}
        operations = from_openapi(spec)
    else:
        version_file = args.sdk.parent / "_api_version.py"
        version = ast.literal_eval(
            next(
                line.split("=", 1)[1].strip()
                for line in version_file.read_text(encoding="utf-8").splitlines()
                if line.strip().startswith("CURRENT")
            )
        )
        source = {"kind": "stripe-python params", "version": version}
        operations = from_sdk(args.sdk)
        if args.max_length_from is not None:
            older = json.loads(args.max_length_from.read_text(encoding="utf-8"))
            source["max_length_from"] = {"kind": "openapi", "version": older["info"]["version"]}
            for key, schema in from_openapi(older).items():
                merge_max_length(operations[key], schema)
    if args.note:
        source["note"] = args.note
    json.dump(build(operations, source), sys.stdout, indent=None, sort_keys=True)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
