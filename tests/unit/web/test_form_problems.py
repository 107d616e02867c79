"""Form errors read as plain words, each tied to its field, the way the error summary and the fields show them."""
from jinja2 import Environment, FileSystemLoader

from services.common.errors import Conflict, Unauthorized, ValidationFailed
from services.web import i18n
from services.web.form_problems import FORMS, Field, form_problems, plain_words


def messages(problems):
    return [(problem.field_id, problem.message) for problem in problems]


def test_a_too_long_comment_is_named_as_a_person_would_and_linked_to_its_textarea():
    error = ValidationFailed("Please correct these fields: body.", {"body": ["Longer than maximum length 20000."]})
    problems = form_problems(error, "comment", {"body": "new-comment"})
    assert messages(problems) == [("new-comment", "Your comment must be 20,000 characters or fewer.")]
    assert problems.of("new-comment") == "Your comment must be 20,000 characters or fewer."
    assert problems.of("f-body") == ""


def test_fields_are_named_in_words_never_by_their_ids():
    webhook = ValidationFailed("Please correct these fields: event_types, url.", {
        "event_types": ["choose 1 to 50 event types"],
        "url": ["The host 10.0.0.1 is a private or reserved address; webhooks go only to public addresses here."]})
    assert messages(form_problems(webhook, "webhook")) == [
        ("f-event_types", "The events to send: choose 1 to 50 event types."),
        ("f-url", "The host 10.0.0.1 is a private or reserved address; webhooks go only to public addresses here.")]
    registration = ValidationFailed("Please correct these fields: display_name, password.", {
        "password": ["must be 10 to 1024 characters"], "display_name": ["Missing data for required field."]})
    assert messages(form_problems(registration, "register")) == [
        ("f-password", "Your password must be 10 to 1024 characters."), ("f-display_name", "Enter your name.")]


def test_stock_wording_becomes_plain_sentences():
    title = Field("the title")
    assert plain_words(title, "Missing data for required field.") == "Enter the title."
    assert plain_words(title, "must not be blank (only spaces or invisible characters)") == "Enter the title."
    assert plain_words(title, "Length must be between 1 and 200.") == "The title must be 200 characters or fewer."
    assert plain_words(Field("your email address"), "Not a valid email address.") == \
        "Enter your email address in the correct format, like name@agency.gov.au."
    assert plain_words(Field("your rating"), "must be from 1 to 5") == "Your rating must be from 1 to 5."
    assert plain_words(Field("the network"), "use lower-case letters, digits and dashes") == \
        "The network: use lower-case letters, digits and dashes."
    assert plain_words(title, "The title is taken.") == "The title is taken."
    assert plain_words(Field("the page of results"), "Must be greater than or equal to 0 and less than or equal to 9.") \
        == "The page of results is out of range."


def test_a_list_counts_its_items_and_names_each_by_its_number():
    questions = FORMS["idea"]["prompts"]
    assert plain_words(questions, "Longer than maximum length 10.") == "Give at most 10 questions."
    assert plain_words(questions, "Longer than maximum length 1000.", "1") == \
        "The questions for discussion (number 2) must be 1,000 characters or fewer."
    assert plain_words(FORMS["api_key"]["scopes"], "Shorter than minimum length 1.") == \
        "Choose at least one of the scopes."


def test_an_error_about_no_field_on_the_form_speaks_for_the_whole_form():
    refused = form_problems(Unauthorized("The email or password is not right."), "log_in")
    assert messages(refused) == [(None, "The email or password is not right.")]
    stale = Conflict("Someone changed this resource since you opened it; reload it and make your change again.",
                     {"base_revision": ["not the latest revision"]})
    assert messages(form_problems(stale, "resource")) == [(None, stale.message)]


def test_the_summary_and_the_field_render_the_pattern():
    env = Environment(loader=FileSystemLoader(str(i18n.HERE / "templates")), extensions=["jinja2.ext.i18n"])
    env.install_gettext_translations(i18n.translations(), newstyle=True)
    form = env.get_template("_form.html").module
    problems = form_problems(ValidationFailed("x", {"title": ["Longer than maximum length 200."]}), "idea")
    summary = str(form.error_summary(problems))
    assert 'role="alert"' in summary and 'tabindex="-1"' in summary and "autofocus" in summary
    assert "There is a problem" in summary
    assert '<a href="#f-title">The title must be 200 characters or fewer.</a>' in summary
    field = str(form.field("title", "Title", problems, hint="At most 200 characters.", maxlength=200))
    assert 'aria-describedby="f-title-hint f-title-error"' in field and 'aria-invalid="true"' in field
    assert 'id="f-title-error"' in field and 'maxlength="200"' in field
    assert str(form.error_summary(form_problems(ValidationFailed("x", {}), "idea"))).strip() != ""
