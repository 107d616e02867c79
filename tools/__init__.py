"""What the operator's ``engage`` command runs beside the services: demonstration content, and the
archive's import of legacy pages and export of open data as files. No service imports it."""
