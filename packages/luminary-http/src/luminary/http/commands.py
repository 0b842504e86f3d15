"""Request bodies into core's commands, with cattrs: the one place each API's leniency is decided.

============================  ======================  =====================================
                              API v1 (the iOS app)    API v2
============================  ======================  =====================================
unknown members               ignored                 refused: "is not a known field"
``null``                      core's meaning          refused where the field takes no null
timestamps                    any ISO-8601 form       RFC 3339 only
fields required beyond core   none                    a session's ``title``
============================  ======================  =====================================

cattrs walks the body, applying the API's own checks to each member and
collecting every failure; the command class then checks each field by the rule
it carries (:class:`luminary.core.commands.FieldSpec`). Either way the failures
become one :class:`~luminary.core.errors.ValidationFailed` naming each member.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import attrs
import cattrs
from attrs import AttrsInstance
from cattrs.errors import AttributeValidationNote, ClassValidationError, ForbiddenExtraKeysError
from cattrs.gen import make_dict_structure_fn, override

from luminary.core import FieldError, ValidationFailed, commands
from luminary.core.validation import Timestamp

C = TypeVar("C", bound=AttrsInstance)

#: RFC 3339's date-time, which v2 asks for (core takes any ISO-8601 form).
RFC3339 = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?([Zz]|[+-][0-9]{2}:[0-9]{2})"
)
RFC3339_MESSAGE = "must be an RFC 3339 date-time, like 2025-12-01T10:30:00Z"


@attrs.frozen
class Policy:
    """How strictly an API reads request bodies.

    Attributes:
        strict: Refuse unknown members, ``null`` where the field takes none, and
            timestamps that are not RFC 3339 (API v2); else read bodies as core
            does (API v1).
        required: Per command class, fields the API requires although core does not.
    """

    strict: bool
    required: Mapping[type, frozenset[str]] = attrs.field(factory=dict)

    def requires(self, cls: type, field: attrs.Attribute[Any]) -> bool:
        """Whether a body of ``cls`` must hold ``field``."""
        return field.default is attrs.NOTHING or field.name in self.required.get(cls, frozenset())


V1 = Policy(strict=False)
V2 = Policy(strict=True, required={commands.CreateSession: frozenset({"title"})})


class BodyReader:
    """Structures JSON bodies into commands under one :class:`Policy`."""

    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        self._converter = cattrs.Converter(detailed_validation=True, forbid_extra_keys=policy.strict)
        self._converter.register_structure_hook_factory(attrs.has, self._command_hook)

    def read(self, body: Mapping[str, Any], cls: type[C]) -> C:
        """The command of type ``cls`` the body describes.

        Raises:
            ValidationFailed: Naming every failing member (unknown ones first).
        """
        required = [
            FieldError(f.name, "is required")
            for f in attrs.fields(cls)
            if f.name not in body and f.default is not attrs.NOTHING and self.policy.requires(cls, f)
        ]
        unknown: list[FieldError] = []
        failing: list[FieldError] = []
        try:
            command: C = self._converter.structure(body, cls)
        except ClassValidationError as group:
            unknown, failing = _field_errors(group)
            # Refused already; name the members that break their rules too.
            failed = {e.field for e in failing}
            failing += commands.field_errors(cls, {k: v for k, v in body.items() if k not in failed})
        except ValidationFailed as exc:  # a rule across fields, once each field is right
            failing = list(exc.errors)
        errors = unknown + required + failing
        if errors:
            raise ValidationFailed(_first_per_field(errors))
        return command

    def _command_hook(self, cls: type) -> Callable[[Any, type], Any]:
        hooks: dict[str, Any] = {f.name: override(struct_hook=self._field_hook(f)) for f in attrs.fields(cls)}
        return make_dict_structure_fn(
            cls,
            self._converter,
            _cattrs_forbid_extra_keys=self.policy.strict,
            _cattrs_detailed_validation=True,
            **hooks,
        )

    def _field_hook(self, field: attrs.Attribute[Any]) -> Callable[[Any, Any], Any]:
        spec = commands.spec_of(field)
        strict = self.policy.strict

        def structure(value: Any, _: Any) -> Any:
            # The API's own checks; the field's rule is applied as the command is built.
            if strict:
                if value is None and not spec.nullable:
                    raise ValidationFailed.field(field.name, "must not be null")
                if (
                    isinstance(spec.rule, Timestamp)
                    and isinstance(value, str)
                    and not RFC3339.fullmatch(value)
                ):
                    raise ValidationFailed.field(field.name, RFC3339_MESSAGE)
            return value

        return structure


def _field_errors(group: ClassValidationError) -> tuple[list[FieldError], list[FieldError]]:
    unknown: list[FieldError] = []
    failing: list[FieldError] = []
    for exc in group.exceptions:
        if isinstance(exc, ForbiddenExtraKeysError):
            unknown += [FieldError(name, "is not a known field") for name in sorted(exc.extra_fields)]
        elif isinstance(exc, ValidationFailed):
            failing += exc.errors
        else:
            names = [n.name for n in getattr(exc, "__notes__", []) if isinstance(n, AttributeValidationNote)]
            message = "is required" if isinstance(exc, KeyError) else "is not valid"
            failing += [FieldError(name, message) for name in names]
    return unknown, failing


def _first_per_field(errors: list[FieldError]) -> list[FieldError]:
    seen: set[str] = set()
    kept = []
    for error in errors:
        if error.field not in seen:
            seen.add(error.field)
            kept.append(error)
    return kept


#: The readers of the two APIs.
V1_BODIES = BodyReader(V1)
V2_BODIES = BodyReader(V2)
