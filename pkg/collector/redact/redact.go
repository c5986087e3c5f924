// Package redact replaces personal data in free text with a marker before an
// event is stored anywhere, the spool included.
package redact

import (
	"regexp"
	"strings"
)

// Markers put in place of what was found. They name the kind of data so that
// reviewers still understand the comment ("call me at [redacted:phone]").
const (
	MarkerEmail = "[redacted:email]"
	MarkerPhone = "[redacted:phone]"
	MarkerCard  = "[redacted:card]"
)

var (
	email = regexp.MustCompile(`[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}`)
	// Card candidates: 13–19 digits, optionally grouped by single spaces or
	// dashes. Only those passing the Luhn check are replaced, so order
	// numbers and timestamps of that length mostly survive.
	card = regexp.MustCompile(`\b\d(?:[ \-]?\d){12,18}\b`)
	// Phone candidates: an optional +, then digits with the usual separators.
	// isPhone decides; the regexp only finds the span.
	phone = regexp.MustCompile(`(?:\+\(?|\(|\b)\d[\d \-.()]{4,22}\d\b`)
	// Things shaped like phone numbers that are not: dates, times, IPv4
	// addresses, version strings.
	datelike = regexp.MustCompile(`^\d{4}[\-./]\d{1,2}[\-./]\d{1,2}(?:\D|$)|^\d{1,2}[\-./]\d{1,2}[\-./]\d{2,4}$`)
	ipv4like = regexp.MustCompile(`^\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}$`)
)

// String returns s with e-mail addresses, payment-card numbers and phone
// numbers replaced by markers. Cards go before phones because a grouped card
// number also looks like a phone number.
func String(s string) string {
	if strings.IndexByte(s, '@') >= 0 {
		s = email.ReplaceAllString(s, MarkerEmail)
	}
	// Phones have 7+ digits and cards 13+: text with fewer digits in total
	// (most comments) skips the two backtracking scans entirely.
	if countDigits(s) < 7 {
		return s
	}
	s = card.ReplaceAllStringFunc(s, func(m string) string {
		if luhn(digits(m)) {
			return MarkerCard
		}
		return m
	})
	return phone.ReplaceAllStringFunc(s, func(m string) string {
		if isPhone(m) {
			return MarkerPhone
		}
		return m
	})
}

func countDigits(s string) int {
	n := 0
	for i := 0; i < len(s); i++ {
		if s[i] >= '0' && s[i] <= '9' {
			n++
		}
	}
	return n
}

func digits(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] >= '0' && s[i] <= '9' {
			b.WriteByte(s[i])
		}
	}
	return b.String()
}

func luhn(d string) bool {
	if len(d) < 13 || len(d) > 19 {
		return false
	}
	sum := 0
	double := false
	for i := len(d) - 1; i >= 0; i-- {
		n := int(d[i] - '0')
		if double {
			n *= 2
			if n > 9 {
				n -= 9
			}
		}
		sum += n
		double = !double
	}
	return sum%10 == 0
}

// isPhone accepts 7–15 digits (E.164 allows at most 15) written the way
// people write phone numbers: with a leading +, with an area code in
// parentheses, with separators, or as 10+ digits in a row. A bare run of
// fewer digits is more likely an order number or an amount and is kept.
func isPhone(m string) bool {
	n := len(digits(m))
	if n < 7 || n > 15 {
		return false
	}
	if datelike.MatchString(m) || ipv4like.MatchString(m) {
		return false
	}
	if strings.HasPrefix(m, "+") || strings.Contains(m, "(") {
		return true
	}
	if strings.ContainsAny(m, " -.") {
		// Decimal numbers and versions use dots with short groups, phone
		// numbers use dots only between groups of 2+ digits.
		if strings.Contains(m, ".") && !strings.ContainsAny(m, " -") {
			for _, g := range strings.Split(m, ".") {
				if len(g) < 2 {
					return false
				}
			}
			return strings.Count(m, ".") >= 2
		}
		return true
	}
	return n >= 10
}
