import CommerceDomain
import Testing

@Suite struct AddressTests {
    @Test(
        "the one-line form: street, detail, city and postal code, country; blank parts left out",
        arguments: [
            (
                Address(street: "Teheran-ro 123", city: "Seoul", postalCode: "06234", country: "KR", detail: "5F"),
                "Teheran-ro 123, 5F, Seoul 06234, KR"
            ),
            (Address(street: "Teheran-ro 123", city: "Seoul", postalCode: "06234"), "Teheran-ro 123, Seoul 06234, KR"),
            (
                Address(street: " Sejong-daero 1 ", city: "Seoul", postalCode: "04524", country: "KR", detail: "  "),
                "Sejong-daero 1, Seoul 04524, KR"
            ),
            (
                Address(street: "Haeundae-ro 5", city: "", postalCode: "48000", country: "KR"),
                "Haeundae-ro 5, 48000, KR"
            ),
        ])
    func fullAddress(example: (Address, String)) {
        #expect(example.0.fullAddress == example.1)
    }
}
