"""Pieces every model admin of the console shares.

- ``ReadOnlyAdminMixin`` and ``ReadOnlyInline``: rows written by services only;
- ``IdSearchMixin``: the search box also takes an id typed as ``123`` or ``#123``;
- ``object_action_urls`` and ``action_object``: the URL and the object of a
  button on an object's page (``<object_id>/<slug>/``);
- ``admin_page``: a page of our own (a confirmation, a form) with the admin's
  header, sidebar and breadcrumbs; ``confirmation_page`` renders the plain one,
  ``admin/console/confirm_form.html``, which the other such pages extend;
- ``bulk_selection`` and ``run_each``: a list action that calls a service per row;
- ``adopt_saved``: let the admin log and redirect to a row a service created.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.template.response import TemplateResponse
from django.urls import path

from core.actors import actor_label
from core.display import words_for
from core.errors import DomainError

# The largest id the search box tries as an id: a longer number cannot be a bigint, and would be a database error.
MAX_ID_DIGITS = 18


class ReadOnlyAdminMixin:
    """Shown to whoever may view it; written only by services."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ReadOnlyInline(ReadOnlyAdminMixin, admin.TabularInline):
    """Rows written by services only: shown, never added, changed or deleted here."""

    extra = 0
    can_delete = False
    show_change_link = False


class AuditInline(ReadOnlyInline):
    """An object's history (a ``core.models.AuditEvent`` table) in words: what happened, the status it moved
    between, who did it. Codes stay in the database; ``status_labels`` and ``action_labels`` (value →
    words) name them, and a code they do not know is still written as words."""

    status_labels: dict[str, str] = {}
    action_labels: dict[str, str] = {}
    fields = ("created_at", "what", "change", "by", "note")
    readonly_fields = fields
    ordering = ("created_at", "id")
    verbose_name_plural = "history"

    @admin.display(description="what")
    def what(self, event):
        labels = {**dict(event._meta.get_field("action").choices or []), **self.action_labels}
        return words_for(event.action, labels)

    @admin.display(description="status")
    def change(self, event):
        before = words_for(event.from_status, self.status_labels)
        after = words_for(event.to_status, self.status_labels)
        if event.from_status == event.to_status:
            return after or "—"
        return f"{before or 'new'} → {after}"

    @admin.display(description="by")
    def by(self, event):
        return actor_label(event.actor)


class IdSearchMixin:
    """Also match an id typed in the search box as ``123`` or ``#123``, on ``id_search_field``."""

    id_search_field = "pk"

    def get_search_results(self, request, queryset, search_term):
        results, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        term = search_term.strip().removeprefix("#")
        if term.isdigit() and len(term) <= MAX_ID_DIGITS:
            results |= queryset.filter(**{self.id_search_field: int(term)})
        return results, may_have_duplicates


def object_action_urls(model_admin: admin.ModelAdmin, actions: Iterable[tuple[str, Callable, str]]) -> list:
    """``<object_id>/<slug>/`` for each ``(slug, view, url name)``, behind the admin's login and CSRF checks."""
    view = model_admin.admin_site.admin_view
    return [path(f"<path:object_id>/{slug}/", view(func), name=name) for slug, func, name in actions]


def action_object(model_admin: admin.ModelAdmin, request, object_id, *, allowed: bool, missing: str):
    """The object an action page works on: 403 unless ``allowed``, 404 (saying ``missing``) if there is none."""
    if not allowed:
        raise PermissionDenied
    obj = model_admin.get_object(request, unquote(object_id))
    if obj is None:
        raise Http404(missing)
    return obj


def admin_page(model_admin: admin.ModelAdmin, request, template: str, *, title: str, **context) -> TemplateResponse:
    """A page of ``model_admin`` outside Django's own views: the site's context, the title, and ``context``.

    With a ``form`` in the context (and no ``media``), the page loads the form's media too.
    """
    form = context.get("form")
    if form is not None and "media" not in context:
        context["media"] = model_admin.media + form.media
    page = {
        **model_admin.admin_site.each_context(request),
        "title": title,
        "subtitle": None,
        "opts": model_admin.opts,
        **context,
    }
    request.current_app = model_admin.admin_site.name
    return TemplateResponse(request, template, page)


class ConfirmForm(forms.Form):
    """No fields: the page is a confirmation."""


def confirmation_page(
    model_admin: admin.ModelAdmin, request, *, title: str, intro: str, form, submit_label: str, back_url: str
) -> TemplateResponse:
    """What the action will do (``intro``), its form if it has fields, and the submit and back buttons."""
    return admin_page(
        model_admin,
        request,
        "admin/console/confirm_form.html",
        title=title,
        intro=intro,
        form=form,
        submit_label=submit_label,
        back_url=back_url,
    )


def adopt_saved(obj, saved) -> None:
    """Make the admin's unsaved ``obj`` stand for the row a service created, so the admin can log it and redirect."""
    obj.pk = saved.pk
    obj._state.adding = False
    obj._state.db = saved._state.db
    for field in obj._meta.concrete_fields:
        setattr(obj, field.attname, getattr(saved, field.attname))


def bulk_selection(model_admin: admin.ModelAdmin, request, queryset, *, limit: int, noun: str) -> list | None:
    """The selected rows in pk order; None, with a warning, past ``limit`` (each row is its own locked transaction,
    so a request must stay well inside the web server's timeout)."""
    chosen = list(queryset.order_by("pk")[: limit + 1])
    if len(chosen) > limit:
        model_admin.message_user(request, f"Select at most {limit} {noun} at a time.", messages.WARNING)
        return None
    return chosen


def run_each(
    model_admin: admin.ModelAdmin,
    request,
    objects,
    run: Callable[[object], str],
    *,
    label: Callable[[object], str] = str,
) -> None:
    """Call ``run`` (a service call) per object and show what it says; a refusal gets its own error message,
    starting with ``label(obj)``, and does not stop the rest."""
    for obj in objects:
        try:
            model_admin.message_user(request, run(obj), messages.SUCCESS)
        except DomainError as exc:
            model_admin.message_user(request, f"{label(obj)}: {exc.detail}", messages.ERROR)
