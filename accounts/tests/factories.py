"""factory_boy factories for accounts: sellers, their users, partners, API keys and staff."""

import factory
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from accounts.models import Partner, PartnerApiKey, Seller, SellerMembership


class SellerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Seller
        django_get_or_create = ("code",)

    code = factory.Sequence(lambda n: f"SELLER{n}")
    name = factory.Sequence(lambda n: f"Seller {n}")
    email = factory.Sequence(lambda n: f"seller{n}@example.com")


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")

    @factory.post_generation
    def password(user, create, extracted, **kwargs):
        user.set_password(extracted or "pass-word-123")
        if create:
            user.save(update_fields=["password"])


class SellerUserFactory(UserFactory):
    @factory.post_generation
    def seller(user, create, extracted, **kwargs):
        if create:
            SellerMembership.objects.get_or_create(user=user, defaults={"seller": extracted or SellerFactory()})


class PartnerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Partner
        skip_postgeneration_save = True

    name = factory.Sequence(lambda n: f"Partner {n}")

    @factory.post_generation
    def sellers(partner, create, extracted, **kwargs):
        if create and extracted:
            partner.sellers.add(*extracted)


def make_api_key(partner: Partner) -> str:
    """Create a key for ``partner`` and return the raw key (as shown once to the partner)."""
    prefix, raw = PartnerApiKey.generate()
    PartnerApiKey.objects.create(partner=partner, prefix=prefix, digest=PartnerApiKey.digest_for(raw))
    return raw


def make_staff_user(*groups: str, username: str | None = None, superuser: bool = False):
    """A staff user in the named groups (Warehouse, Support, Finance; created after migrate by ``backoffice.setup``)."""
    kwargs = {"username": username} if username else {}
    user = UserFactory(is_staff=True, is_superuser=superuser, **kwargs)
    found = list(Group.objects.filter(name__in=groups))
    if len(found) != len(set(groups)):
        raise LookupError(f"missing group(s): {sorted(set(groups) - {g.name for g in found})}")
    user.groups.add(*found)
    return user
