"""Per-photo permissions as django-guardian's documentation advises for a large table ("Direct
foreign keys", its performance tuning): one table for users' and one for groups' permissions, each
row pointing at its photo with a real foreign key instead of guardian's generic text `object_pk`.

With the generic tables, guardian's filter (get_objects_for_user over a queryset) compares the text
`object_pk` with each photo id cast to text, and PostgreSQL ran it as a nested loop: 5 seconds for
one page of a 5,000-photo tenant. No developer would ship that, so the variant uses these tables.
They exist only in the benchmark's database: the app has no migrations, `migrate --run-syncdb`
creates its tables (bench/infra.py).
"""

from django.db import models
from guardian.models import GroupObjectPermissionBase, UserObjectPermissionBase


class PhotoUserObjectPermission(UserObjectPermissionBase):
    content_object = models.ForeignKey("photos.Photo", on_delete=models.CASCADE)


class PhotoGroupObjectPermission(GroupObjectPermissionBase):
    content_object = models.ForeignKey("photos.Photo", on_delete=models.CASCADE)
