// Mint an Uplift customer token in Go, with the standard library only (docs/tokens.md).
//
//	UPLIFT_WIDGET_SECRET=... go run mint.go CUSTOMER_ID [STRIPE_CUSTOMER]
package main

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"time"
)

func b64url(data []byte) string {
	return base64.RawURLEncoding.EncodeToString(data)
}

func customerToken(secret, customerID, stripeCustomer string, ttl int64) (string, error) {
	now := time.Now().Unix()
	claims := map[string]any{"sub": customerID, "iat": now, "exp": now + ttl}
	if stripeCustomer != "" {
		claims["stripe_customer"] = stripeCustomer
	}
	header, err := json.Marshal(map[string]string{"alg": "HS256", "typ": "JWT"})
	if err != nil {
		return "", err
	}
	body, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	signing := b64url(header) + "." + b64url(body)
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(signing))
	return signing + "." + b64url(mac.Sum(nil)), nil
}

func main() {
	stripeCustomer := ""
	if len(os.Args) > 2 {
		stripeCustomer = os.Args[2]
	}
	token, err := customerToken(os.Getenv("UPLIFT_WIDGET_SECRET"), os.Args[1], stripeCustomer, 900)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println(token)
}
