package redact

import "testing"

func TestString(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"mail me at jane.doe+fb@example.co.uk please", "mail me at [redacted:email] please"},
		{"two: a@b.io, c_d@mail.example.org.", "two: [redacted:email], [redacted:email]."},
		{"card 4111 1111 1111 1111 was charged", "card [redacted:card] was charged"},
		{"card 4111-1111-1111-1111", "card [redacted:card]"},
		{"card 5500005555555559", "card [redacted:card]"},
		// Fails Luhn: an order number, not a card.
		{"order 4111111111111112 failed", "order 4111111111111112 failed"},
		{"call +49 30 1234567 now", "call [redacted:phone] now"},
		{"call (555) 123-4567", "call [redacted:phone]"},
		{"call 555-123-4567 or 555 1234", "call [redacted:phone] or [redacted:phone]"},
		{"call 555-1234", "call [redacted:phone]"},
		{"tel 0301234567", "tel [redacted:phone]"},
		{"tel 030.1234.5678", "tel [redacted:phone]"},
		// Not personal data: dates, versions, amounts, IPs, short numbers.
		{"since 2026-11-01 on version 2026-11-01.3", "since 2026-11-01 on version 2026-11-01.3"},
		{"costs 1234.56 EUR, took 10.5 s", "costs 1234.56 EUR, took 10.5 s"},
		{"host 192.168.10.20 answered", "host 192.168.10.20 answered"},
		{"ticket 123456 and v1.2.3", "ticket 123456 and v1.2.3"},
		{"", ""},
		{"nothing to see", "nothing to see"},
	} {
		if got := String(c.in); got != c.want {
			t.Errorf("String(%q)\n got %q\nwant %q", c.in, got, c.want)
		}
	}
}

func TestLuhn(t *testing.T) {
	if !luhn("4539578763621486") || luhn("4539578763621487") || luhn("123") {
		t.Fatal("luhn")
	}
}
