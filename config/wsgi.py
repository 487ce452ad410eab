import os

from django.core.wsgi import get_wsgi_application

# Servers (gunicorn in the container) run production unless told otherwise.
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.production")
application = get_wsgi_application()
