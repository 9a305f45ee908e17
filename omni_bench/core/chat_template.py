"""A chat template rendered the way transformers' ``apply_chat_template`` renders it, with jinja2 alone.

transformers (5.x, ``utils/chat_template_utils.py``) compiles a template in jinja2's
immutable sandbox with ``trim_blocks`` and ``lstrip_blocks``, the loop-control extension
(``{% break %}``, ``{% continue %}``) and a ``{% generation %}`` block tag (it marks the
assistant's text; it renders its body unchanged), and gives it ``raise_exception``,
``strftime_now``, a ``dict`` and a ``namespace`` that refuses underscore names, and a
``tojson`` filter that is ``json.dumps`` (no HTML escaping, ``ensure_ascii=False``).
Before rendering, the processor drops the message keys whose value is None, turns OpenAI
``image_url`` blocks into ``image`` blocks, copies a message's reasoning under the names
templates read, and rebuilds everything the template sees from plain JSON types (any
other object becomes the text ``<TypeName>``). The template variables are the
conversation as ``messages``, ``tools``, ``documents``, ``add_generation_prompt`` and the
tokenizer's named special tokens. :func:`render` does the same steps.

``tests/test_light_planner.py`` checks the text and ids equal transformers' on every
family's template. Not covered: ``continue_final_message``, assistant masks, tool
functions (JSON schemas pass through), batched conversations.
"""

from __future__ import annotations

import dataclasses
import functools
import json
from collections.abc import Mapping
from datetime import datetime

__all__ = ["render", "compile_template"]

_REASONING = ("reasoning_content", "thinking", "reasoning")


@functools.lru_cache(maxsize=16)
def compile_template(source: str):
    """The jinja2 Template of a chat template, in transformers' environment (cached per text)."""
    import jinja2
    import jinja2.ext
    import jinja2.nodes
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    class Generation(jinja2.ext.Extension):  # {% generation %}...{% endgeneration %}: the body as is
        tags = frozenset({"generation"})

        def parse(self, parser):
            lineno = next(parser.stream).lineno
            body = parser.parse_statements(("name:endgeneration",), drop_needle=True)
            return jinja2.nodes.CallBlock(self.call_method("_body"), [], [], body).set_lineno(lineno)

        def _body(self, caller):
            return caller()

    def raise_exception(message):
        raise jinja2.exceptions.TemplateError(message)

    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)

    class Namespace(jinja2.utils.Namespace):
        def __init__(*args, **kwargs):
            self, args = args[0], args[1:]
            attrs = dict(*args, **kwargs)
            for name in attrs:
                _check_name(name)
            jinja2.utils.Namespace.__init__(self, attrs)

        def __setitem__(self, name, value):
            _check_name(name)
            jinja2.utils.Namespace.__setitem__(self, name, value)

    def _check_name(name):
        if isinstance(name, str) and name.startswith("_"):
            raise jinja2.exceptions.SecurityError(f"a chat template cannot store {name!r} on a namespace")

    class TemplateDict:
        def __call__(self, *args, **kwargs):
            return dict(*args, **kwargs)

        def fromkeys(self, *args, **kwargs):
            return dict.fromkeys(*args, **kwargs)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                        extensions=[Generation, jinja2.ext.loopcontrols])
    env.filters["tojson"] = tojson
    env.globals.update(raise_exception=raise_exception, strftime_now=lambda fmt: datetime.now().strftime(fmt),
                       dict=TemplateDict(), namespace=Namespace)
    return env.from_string(source)


def _plain(value):
    """Plain JSON data for the template: scalars, dicts, lists, tuples; anything else ``<TypeName>``."""
    if value is None or type(value) in (str, int, float, bool):
        return value
    for kind in (str, int, float):  # subclasses (enums, numpy scalars) back to the base type
        if isinstance(value, kind):
            return getattr(kind, f"__{kind.__name__}__")(value)
    if isinstance(value, Mapping):
        return {_plain(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, tuple):
        return tuple(_plain(v) for v in value)
    if type(value).__module__ == "numpy" and getattr(value, "shape", None) == ():
        return _plain(value.item())  # a numpy scalar (np.bool_ would otherwise be a truthy placeholder)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if callable(getattr(value, "model_dump", None)):
        return _plain(value.model_dump())
    return f"<{type(value).__name__}>"


def _normalized(messages) -> list[dict]:
    """The processor's clean-up of one conversation (see the module docstring)."""
    out = []
    for message in messages:
        message = {k: v for k, v in message.items() if v is not None}
        if isinstance(message.get("content"), list):
            message["content"] = [
                {"type": "image", "url": (b["image_url"].get("url", "") if isinstance(b["image_url"], dict)
                                          else b["image_url"])}
                if isinstance(b, dict) and b.get("type") == "image_url" and "image_url" in b else b
                for b in message["content"]]
        out.append(message)
    out = _plain(out)
    for i, message in enumerate(out):
        if not isinstance(message, dict):
            raise TypeError(f"Chat messages should be dicts, dataclasses or pydantic models, but got {message!r}.")
        reasoning = next((message[k] for k in _REASONING if message.get(k) is not None), None)
        if reasoning is not None:
            out[i] = {"thinking": reasoning, **message, "reasoning_content": reasoning}
    return out


def render(source: str, messages, *, add_generation_prompt: bool = False, tools=None, documents=None,
           **variables) -> str:
    """One conversation rendered by a chat template as transformers' processor renders it."""
    return compile_template(source).render(messages=_normalized(messages), tools=_plain(tools),
                                           documents=_plain(documents), add_generation_prompt=add_generation_prompt,
                                           **_plain(variables))
