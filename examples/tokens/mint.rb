# Mint an Uplift customer token in Ruby, with the standard library only (docs/tokens.md).
#
#   UPLIFT_WIDGET_SECRET=... ruby mint.rb CUSTOMER_ID [STRIPE_CUSTOMER]
require 'base64'
require 'json'
require 'openssl'

def b64url(data)
  Base64.urlsafe_encode64(data, padding: false)
end

def customer_token(secret, customer_id, stripe_customer = nil, ttl = 900)
  now = Time.now.to_i
  claims = { sub: customer_id, iat: now, exp: now + ttl }
  claims[:stripe_customer] = stripe_customer if stripe_customer
  header = b64url(JSON.generate({ alg: 'HS256', typ: 'JWT' }))
  body = b64url(JSON.generate(claims))
  signature = OpenSSL::HMAC.digest('SHA256', secret, "#{header}.#{body}")
  "#{header}.#{body}.#{b64url(signature)}"
end

puts customer_token(ENV.fetch('UPLIFT_WIDGET_SECRET'), ARGV[0], ARGV[1])
