"""Resolving Keras-style string identifiers to objects, with a helpful error."""
from .naming import to_snake_case


def resolve(identifier, table, what):
    """``table[name]`` for a string (snake or CamelCase), a callable as is, ``None`` as is.

    >>> resolve("relu", {"relu": abs}, "activation") is abs
    True
    """
    if identifier is None or callable(identifier):
        return identifier
    if isinstance(identifier, str):
        key = to_snake_case(identifier)
        if key in table:
            return table[key]
        raise ValueError(f"Unknown {what} {identifier!r}. Valid names: {', '.join(sorted(table))}.")
    article = "an" if what[0] in "aeiou" else "a"
    raise TypeError(f"expected {article} {what} name (a string) or a callable, got "
                    f"{identifier!r} of type {type(identifier).__name__}.")
