"""Gateway routes for being told: notifications, preferences, unsubscribe links, webhooks, caught mail."""
from __future__ import annotations

from services.common.rpc import RpcProxy

from services.common.errors import DomainError
from services.common.http import json_response, query_int, read_json
from services.web.form_problems import form_problems
from services.web.gateway import api, page, same_site_path


class NotifyRoutes:
    notify = RpcProxy("notify")
    # Following an idea is the ideas service's; whether taking part follows is chosen beside how one is told.
    idea_following = RpcProxy("ideas")

    # -- JSON API: notifications and preferences -----------------------------

    @api("GET", "/api/v1/notifications")
    def api_notifications(self, request):
        limit = query_int(request, "limit", 20, lo=1, hi=100)
        return json_response(self.notify.list_notifications(request.args.get("cursor") or None, limit))

    @api("POST", "/api/v1/notifications/<string:notification_id>/read")
    def api_notification_read(self, request, notification_id):
        answer = self.notify.mark_read(notification_id)
        self.web.forget_unread_count()
        return json_response(answer)

    @api("POST", "/api/v1/notifications/read")
    def api_notifications_read(self, request):
        answer = self.notify.mark_all_read()
        self.web.forget_unread_count()
        return json_response(answer)

    @api("GET", "/api/v1/notification-preferences")
    def api_preferences(self, request):
        return json_response(self.notify.get_preferences())

    @api("PUT", "/api/v1/notification-preferences")
    def api_set_preferences(self, request):
        return json_response(self.notify.set_preferences(read_json(request)))

    # -- JSON API: webhooks ---------------------------------------------------

    @api("GET", "/api/v1/webhooks/event-types")
    def api_webhook_event_types(self, request):
        return json_response({"items": self.notify.webhook_event_types(), "next_cursor": None})

    @api("POST", "/api/v1/webhooks")
    def api_create_webhook(self, request):
        return json_response(self.notify.create_webhook(read_json(request)), 201)

    @api("GET", "/api/v1/webhooks")
    def api_webhooks(self, request):
        return json_response(self.notify.list_webhooks())

    @api("GET", "/api/v1/webhooks/<string:webhook_id>")
    def api_webhook(self, request, webhook_id):
        return json_response(self.notify.get_webhook(webhook_id))

    @api("DELETE", "/api/v1/webhooks/<string:webhook_id>")
    def api_delete_webhook(self, request, webhook_id):
        return json_response(self.notify.delete_webhook(webhook_id))

    @api("POST", "/api/v1/webhooks/<string:webhook_id>/rotate-secret")
    def api_rotate_webhook_secret(self, request, webhook_id):
        payload = read_json(request) if request.content_length else {}
        return json_response(self.notify.rotate_webhook_secret(webhook_id, payload or {}))

    @api("GET", "/api/v1/webhooks/<string:webhook_id>/deliveries")
    def api_webhook_deliveries(self, request, webhook_id):
        limit = query_int(request, "limit", 50, lo=1, hi=200)
        return json_response(self.notify.webhook_deliveries(webhook_id, limit))

    @api("POST", "/api/v1/webhooks/<string:webhook_id>/deliveries/<string:delivery_id>/redeliver")
    def api_redeliver(self, request, webhook_id, delivery_id):
        return json_response(self.notify.redeliver(webhook_id, delivery_id), 202)

    # -- pages ----------------------------------------------------------------

    @page("GET", "/notifications")
    def notifications_page(self, request):
        self.web.require_principal()
        listed = self.notify.list_notifications(request.args.get("cursor") or None, 30)
        return self.web.render("notify/notifications.html", notifications=listed["items"],
                               unread_here=listed["unread"], next_cursor=listed["next_cursor"])

    @page("POST", "/notifications/<string:notification_id>/read")
    def notification_open_submit(self, request, notification_id):
        """Opening a notification marks it read and takes the member to what it is about.

        A POST, not a link: anything that follows links (a crawler, a link checker, a browser
        prefetching) must not mark a member's notifications read.
        """
        self.web.require_principal()
        self.web.check_csrf(request.form)
        notification = self.notify.mark_read(notification_id)
        self.web.forget_unread_count()
        return self.web.redirect(same_site_path(notification["link"], "/notifications"))

    @page("POST", "/notifications/read")
    def notifications_read_submit(self, request):
        self.web.require_principal()
        self.web.check_csrf(request.form)
        self.notify.mark_all_read()
        self.web.forget_unread_count()
        return self.web.redirect("/notifications", flash="Every notification is marked as read.")

    @page("GET", "/notifications/preferences")
    def preferences_page(self, request):
        self.web.require_principal()
        return self.web.render("notify/preferences.html", preferences=self.notify.get_preferences(),
                               following=self.idea_following.following_preference())

    @page("POST", "/notifications/preferences")
    def preferences_submit(self, request):
        self.web.require_principal()
        self.web.check_csrf(request.form)
        current = self.notify.get_preferences()
        changes = {choice["kind"]: request.form.get(choice["kind"], choice["mode"]) for choice in current["choices"]}
        following = {"follow_when_taking_part": request.form.get("follow_when_taking_part") == "yes"}
        try:
            self.notify.set_preferences(changes)
            self.idea_following.set_following_preference(following)
        except DomainError as error:
            field_ids = {choice["kind"]: f"pref-{choice['kind']}" for choice in current["choices"]}
            return self.web.render("notify/preferences.html", status=error.status, preferences=current,
                                   following=following, problems=form_problems(error, "preferences", field_ids))
        return self.web.redirect("/notifications/preferences", flash="Your choices are saved.")

    @page("GET", "/unsubscribe/<string:token>")
    def unsubscribe_page(self, request, token):
        return self.web.render("notify/unsubscribe.html", token=token, about=self.notify.describe_unsubscribe(token),
                               done=False)

    @page("POST", "/unsubscribe/<string:token>")
    def unsubscribe_submit(self, request, token):
        # No log-in and no CSRF token: the signed link is the permission, and mail
        # programs send one-click unsubscribes (RFC 8058) as a bare POST.
        answer = self.notify.unsubscribe(token)
        return self.web.render("notify/unsubscribe.html", token=token, about=answer, done=True)

    @page("GET", "/dev/mail")
    def caught_mail_page(self, request):
        """Mail caught by the local run's SMTP server, so a new user sees it without configuring anything."""
        return self.web.render("notify/caught_mail.html", caught=self.notify.caught_mail())

