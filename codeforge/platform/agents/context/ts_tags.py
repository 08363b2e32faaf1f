"""Definitions and references of JavaScript/TypeScript, Go, Rust, Java, C/C++, C#, Ruby and PHP
files (and of Python files `ast` cannot read), through tree-sitter and the grammars
`tree_sitter_language_pack` bundles.

A walk over the syntax tree rather than tags queries: one table of definition node types per
language, names through the node's `name` field (C declarators are unwrapped down to their
identifier), and every identifier that is not a definition's name counted as a reference.
tree-sitter recovers from syntax errors, so a half-typed file still gives what it can."""

from __future__ import annotations

import posixpath
import threading
from functools import cache

from tree_sitter import Node, Parser
from tree_sitter_language_pack import get_parser

from .symbols import MODULE_PREFIX, FileTags, Symbol

__all__ = ["js_module_names", "parse_tree_sitter", "supported"]

_MAX_SIGNATURE = 200

_JS = {
    "function_declaration": "function",
    "generator_function_declaration": "function",
    "class_declaration": "class",
    "abstract_class_declaration": "class",
    "method_definition": "method",
    "method_signature": "method",
    "abstract_method_signature": "method",
    "interface_declaration": "interface",
    "type_alias_declaration": "type",
    "enum_declaration": "enum",
    "public_field_definition": "attribute",
    "field_definition": "attribute",
    "variable_declarator": "variable",  # top level only
    "internal_module": "module",
}
_KINDS: dict[str, dict[str, str]] = {
    "javascript": _JS,
    "typescript": _JS,
    "tsx": _JS,
    "go": {
        "function_declaration": "function",
        "method_declaration": "method",
        "type_spec": "type",
        "const_spec": "variable",  # top level only
        "var_spec": "variable",  # top level only
    },
    "rust": {
        "function_item": "function",
        "function_signature_item": "function",
        "struct_item": "struct",
        "enum_item": "enum",
        "union_item": "struct",
        "trait_item": "trait",
        "type_item": "type",
        "const_item": "variable",
        "static_item": "variable",
        "mod_item": "module",
        "macro_definition": "macro",
    },
    "java": {
        "class_declaration": "class",
        "interface_declaration": "interface",
        "enum_declaration": "enum",
        "record_declaration": "class",
        "annotation_type_declaration": "interface",
        "method_declaration": "method",
        "constructor_declaration": "method",
        "variable_declarator": "attribute",  # fields only (parent field_declaration)
    },
    "c": {
        "function_definition": "function",
        "declaration": "function",  # top-level prototypes and globals
        "struct_specifier": "struct",
        "union_specifier": "struct",
        "enum_specifier": "enum",
        "type_definition": "type",
    },
    "python": {
        "function_definition": "function",
        "class_definition": "class",
        "assignment": "variable",  # top level only
    },
}
_KINDS["csharp"] = {
    "namespace_declaration": "namespace",
    "class_declaration": "class",
    "interface_declaration": "interface",
    "struct_declaration": "struct",
    "record_declaration": "class",
    "enum_declaration": "enum",
    "method_declaration": "method",
    "constructor_declaration": "method",
    "property_declaration": "property",
}
_KINDS["ruby"] = {"module": "module", "class": "class", "method": "function", "singleton_method": "method"}
_KINDS["php"] = {
    "class_declaration": "class",
    "interface_declaration": "interface",
    "trait_declaration": "trait",
    "enum_declaration": "enum",
    "function_definition": "function",
    "method_declaration": "method",
}
_KINDS["cpp"] = {
    **_KINDS["c"],
    "class_specifier": "class",
    "namespace_definition": "namespace",
    "field_declaration": "method",  # method declarations in a class body only
}
# Definitions whose children take them as their parent (methods of a class, functions of an impl).
_SCOPES = {
    "class_declaration",
    "abstract_class_declaration",
    "interface_declaration",
    "enum_declaration",
    "record_declaration",
    "struct_item",
    "enum_item",
    "trait_item",
    "impl_item",
    "class_specifier",
    "struct_specifier",
    "class_definition",
    "struct_declaration",
    "trait_declaration",
    "module",  # Ruby's (Python's root node has the same type and no name: no parent)
    "class",
}
_TOP_LEVEL_ONLY = {"variable_declarator", "const_spec", "var_spec", "assignment", "declaration"}
_TOP = {"program", "source_file", "translation_unit", "module", "export_statement"}
_IDENTIFIERS = {
    "identifier",
    "type_identifier",
    "field_identifier",
    "property_identifier",
    "shorthand_property_identifier",
    "shorthand_property_identifier_pattern",
    "namespace_identifier",
    "constant",
}
_SPECIFIERS = {"struct_specifier", "union_specifier", "enum_specifier", "class_specifier"}
_LANGUAGE_IDENTIFIERS = {"php": _IDENTIFIERS | {"name"}}
_MEMBERS = {"field_identifier", "property_identifier"}
_DECLARATORS = {
    "pointer_declarator",
    "function_declarator",
    "array_declarator",
    "parenthesized_declarator",
    "init_declarator",
    "reference_declarator",
    "attributed_declarator",
}
_PARSERS = threading.local()  # a Parser is not to be shared between threads


def supported(language: str) -> bool:
    return language in _KINDS


@cache
def _check(language: str) -> bool:
    try:
        get_parser(language)  # type: ignore[arg-type]
    except Exception:  # a grammar the pack lacks: the language is simply not mapped
        return False
    return True


def _parser(language: str) -> Parser | None:
    parsers: dict[str, Parser] = _PARSERS.__dict__.setdefault("parsers", {})
    if language not in parsers:
        if not _check(language):
            return None
        parsers[language] = get_parser(language)  # type: ignore[arg-type]
    return parsers[language]


def _unwrap_declarator(node: Node | None) -> tuple[Node | None, bool]:
    """The identifier a C declarator declares, and whether it declares a function."""
    is_function = False
    while node is not None and node.type in _DECLARATORS:
        is_function = is_function or node.type == "function_declarator"
        inner = node.child_by_field_name("declarator")
        node = inner if inner is not None else (node.named_children[0] if node.named_children else None)
    while node is not None and node.type in ("qualified_identifier", "scoped_identifier"):
        node = node.child_by_field_name("name")
    return node, is_function


def _definition(node: Node, language: str, kinds: dict[str, str]) -> tuple[Node | None, str]:
    """The name node and kind of a definition node, (None, "") when it defines nothing here."""
    kind = kinds.get(node.type)
    if kind is None:
        return None, ""
    parent = node.parent
    ptype = parent.type if parent is not None else ""
    grand = parent.parent.type if parent is not None and parent.parent is not None else ""
    if node.type in _TOP_LEVEL_ONLY:
        top = ptype in _TOP or (grand in _TOP and ptype != "block")
        if language == "java" and node.type == "variable_declarator":
            top = ptype == "field_declaration"
        if language == "python":
            top = ptype == "expression_statement" and grand == "module"
        if not top:
            return None, ""
    if node.type in ("function_definition", "declaration", "field_declaration") and language in ("c", "cpp"):
        name, is_function = _unwrap_declarator(node.child_by_field_name("declarator"))
        if node.type == "field_declaration" and not is_function:
            return None, ""
        if node.type == "declaration":
            kind = "function" if is_function else "variable"
        return name, kind
    if node.type == "type_definition":
        return _unwrap_declarator(node.child_by_field_name("declarator"))[0], kind
    if node.type in _SPECIFIERS and node.child_by_field_name("body") is None:
        return None, ""  # `struct S *p;` mentions S, does not define it
    if node.type == "assignment":
        left = node.child_by_field_name("left")
        return (left if left is not None and left.type == "identifier" else None), kind
    name = node.child_by_field_name("name")
    if name is not None and name.type in ("qualified_identifier", "scoped_identifier"):
        name = _unwrap_declarator(name)[0]
    if language in ("javascript", "typescript", "tsx") and node.type == "variable_declarator":
        value = node.child_by_field_name("value")
        if value is not None and value.type in ("arrow_function", "function_expression", "function"):
            kind = "function"
    return name, kind


def _scope_name(node: Node) -> str:
    field = "type" if node.type == "impl_item" else "name"
    name = node.child_by_field_name(field)
    return name.text.decode("utf-8", "replace") if name is not None and name.text else ""


def _go_receiver(node: Node) -> str:
    """`S` for `func (s *S) M()`."""
    receiver = node.child_by_field_name("receiver")
    stack = [receiver] if receiver is not None else []
    while stack:
        current = stack.pop()
        if current.type == "type_identifier" and current.text:
            return current.text.decode("utf-8", "replace")
        stack.extend(reversed(current.named_children))
    return ""


def js_module_names(path: str) -> set[str]:
    """What `import … from './x'` resolves to for this file: its path without the extension, and
    its folder for an index file."""
    stem = posixpath.splitext(path)[0]
    names = {f"{MODULE_PREFIX}js:{stem}"}
    if posixpath.basename(stem) == "index":
        names.add(f"{MODULE_PREFIX}js:{posixpath.dirname(stem)}")
    return names


def _js_import(path: str, node: Node) -> str | None:
    source = node.child_by_field_name("source")
    if source is None or not source.text:
        return None
    spec = source.text.decode("utf-8", "replace").strip("'\"`")
    if not spec.startswith("."):
        return None  # a package, not a file of the workspace
    target = posixpath.normpath(posixpath.join(posixpath.dirname(path), spec))
    return f"{MODULE_PREFIX}js:{posixpath.splitext(target)[0] if '.' in posixpath.basename(target) else target}"


def parse_tree_sitter(path: str, text: str, language: str) -> FileTags:
    """The file's tags; a language without a grammar gives an empty FileTags with the reason."""
    tags = FileTags(path=path, language=language)
    parser = _parser(language)
    kinds = _KINDS.get(language)
    if parser is None or kinds is None:
        tags.error = f"no tree-sitter grammar for {language}"
        return tags
    source = text.encode("utf-8")
    tree = parser.parse(source)
    lines = text.splitlines()
    is_js = language in ("javascript", "typescript", "tsx")
    identifiers = _LANGUAGE_IDENTIFIERS.get(language, _IDENTIFIERS)
    if is_js:
        tags.modules = js_module_names(path)
    names: set[int] = set()  # start bytes of definition names: those are not references
    stack: list[tuple[Node, str]] = [(tree.root_node, "")]
    while stack:
        node, parent = stack.pop()
        child_parent = parent
        if node.is_named:
            name, kind = _definition(node, language, kinds)
            if name is not None and name.text:
                row = name.start_point.row
                signature = lines[row].rstrip() if row < len(lines) else ""
                if len(signature) > _MAX_SIGNATURE:
                    signature = signature[: _MAX_SIGNATURE - 1] + "…"
                owner = _go_receiver(node) if node.type == "method_declaration" and language == "go" else parent
                if kind == "function" and owner:
                    kind = "method"
                tags.symbols.append(
                    Symbol(
                        name=name.text.decode("utf-8", "replace"),
                        kind=kind,
                        path=path,
                        line=row + 1,
                        end_line=node.end_point.row + 1,
                        signature=signature,
                        parent=owner,
                        start_line=node.start_point.row + 1,
                    )
                )
                names.add(name.start_byte)
            if node.type in _SCOPES:
                child_parent = _scope_name(node) or parent
            elif node.type in identifiers and node.start_byte not in names and node.text:
                ident = node.text.decode("utf-8", "replace")
                # `obj.name`: an attribute use, which only a member (or a module's export) answers.
                tags.add_ref(("." + ident) if node.type in _MEMBERS else ident, node.start_point.row + 1)
            elif is_js and node.type in ("import_statement", "export_statement"):
                module = _js_import(path, node)
                if module:
                    tags.add_ref(module, node.start_point.row + 1)
            elif node.type == "ERROR" and not tags.error:
                tags.error = f"syntax error at line {node.start_point.row + 1}"
        # Reversed so the walk meets children in source order (definitions before their names).
        stack.extend((child, child_parent) for child in reversed(node.children))
    return tags
