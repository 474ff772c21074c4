from millchain.session import Session


def test_suite_is_deployed_on_the_embedded_chain(local: Session) -> None:
    token = local.contract("SettlementToken")
    assert token.functions.decimals().call() == 6
