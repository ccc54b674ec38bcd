from django.db import models


class Book(models.Model):
    title = models.CharField(max_length=200)
    published = models.DateField(null=True)
    subtitle = models.CharField(max_length=200, null=True)
