from backoffice.tests.factories import make_order


def test_intake_reserves(partner, seller, sku):
    order = make_order(partner=partner, seller=seller, lines=[("TSHIRT-M", 3)])
    sku.stock.refresh_from_db()
    assert order.status == "pending_payment"
    assert sku.stock.reserved == 3
