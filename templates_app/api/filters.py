"""Query filters of the template list (`?category=&tag=&search=`)."""

from __future__ import annotations

import django_filters
from django.db.models import Q, QuerySet

from templates_app.models import Category, PromptTemplate


class TemplateFilter(django_filters.FilterSet):
    category = django_filters.ChoiceFilter(choices=Category.choices)
    tag = django_filters.CharFilter(field_name="tags__name", label="tag name, exactly")
    search = django_filters.CharFilter(method="search_text", label="words in the name or description")

    class Meta:
        model = PromptTemplate
        fields = ["category", "tag", "search"]

    def is_valid(self) -> bool:
        # django-filter reads an empty value as "no filter"; for a category it is a category that does not
        # exist (`?category=` is a client's mistake worth a 400, as an empty value of any other choice is).
        valid = super().is_valid()
        if self.data.get("category") == "":
            self.form.add_error("category", f"must be one of {', '.join(Category.values)}")
            valid = False
        return valid

    def search_text(self, queryset: QuerySet[PromptTemplate], name: str, value: str) -> QuerySet[PromptTemplate]:
        return queryset.filter(Q(name__icontains=value) | Q(description__icontains=value))
